"""Real Prometheus -> real Alertmanager -> our webhook: a page fires, then resolves.

Prometheus drops alerts that fire before it has discovered its Alertmanager (a few seconds
after start or after a config reload) and resends firing ones only after
``--rules.alert.resend-delay`` (1 m by default). So the rule fires in a time window that
opens once Prometheus has had time to discover the Alertmanager, and closes a few seconds
later so that the alert resolves.
"""

import threading
import time

import httpx

from gameday.prometheus.alertmanager import AlertmanagerConfig, AlertmanagerServer
from gameday.prometheus.server import PrometheusConfig, PrometheusServer
from gameday.prometheus.webhook import AlertNotice, WebhookReceiver
from tests.conftest import require_binary
from tests.procs import free_port

RULES = """groups:
- name: drill
  interval: 1s
  rules:
  - alert: DrillBudgetBurn
    expr: (vector(time()) > {on:.3f}) < {off:.3f}
    for: 0s
    labels: {{sloth_id: drill-availability, sloth_service: drill, sloth_severity: page}}
    annotations:
      summary: the drill SLO burns its budget
      runbook_url: runbooks/drill-availability.md
"""
OPENS_AFTER_S = 10.0
LASTS_S = 5.0


def wait_for_alertmanager(prom: PrometheusServer, until: float) -> None:
    while time.time() < until:
        body = httpx.get(prom.url + "/api/v1/alertmanagers", timeout=5).json()
        if body["data"]["activeAlertmanagers"]:
            return
        time.sleep(0.2)
    raise AssertionError("prometheus did not discover its alertmanager before the alert "
                         "window opened")


def notification_metrics(prom: PrometheusServer) -> list[str]:
    text = httpx.get(prom.url + "/metrics", timeout=5).text
    return [line for line in text.splitlines()
            if line.startswith("prometheus_notifications_")]


class Inbox:
    def __init__(self) -> None:
        self.notices: list[AlertNotice] = []
        self.cond = threading.Condition()

    def __call__(self, notices: list[AlertNotice]) -> None:
        with self.cond:
            self.notices.extend(notices)
            self.cond.notify_all()

    def wait_for(self, status: str, timeout_s: float) -> AlertNotice | None:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for n in self.notices:
                    if n.alertname == "DrillBudgetBurn" and n.status == status:
                        return n
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def test_a_page_travels_from_prometheus_through_alertmanager_to_the_webhook(tmp_path):
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    opens = time.time() + OPENS_AFTER_S
    rules = tmp_path / "drill.rules.yml"
    rules.write_text(RULES.format(on=opens, off=opens + LASTS_S))
    inbox = Inbox()
    receiver = WebhookReceiver(inbox).start()
    am = AlertmanagerServer(AlertmanagerConfig(receiver.url), tmp_path / "am", port=free_port())
    prom = PrometheusServer(PrometheusConfig(targets={}, rule_files=[rules],
                                             alertmanager=am.address),
                            tmp_path / "prom", port=free_port())
    try:
        am.launch()
        prom.launch()
        am.wait_ready()
        prom.wait_ready()
        wait_for_alertmanager(prom, until=opens)

        firing = inbox.wait_for("firing", OPENS_AFTER_S + 20)
        assert firing is not None, (notification_metrics(prom), am.alerts())
        assert firing.severity == "page"
        assert (firing.slo_id, firing.service) == ("drill-availability", "drill")
        assert firing.runbook_url == "runbooks/drill-availability.md"
        assert firing.summary == "the drill SLO burns its budget"
        assert firing.starts_at is not None and firing.starts_at >= opens - 1
        assert firing.ends_at is None
        assert firing.fingerprint and firing.generator_url

        # The window closes: Prometheus sends the alert as resolved, and Alertmanager
        # (send_resolved) tells the webhook.
        resolved = inbox.wait_for("resolved", LASTS_S + 20)
        assert resolved is not None, (notification_metrics(prom), am.alerts())
        assert resolved.fingerprint == firing.fingerprint
        assert resolved.ends_at is not None and resolved.ends_at >= opens + LASTS_S - 1
    finally:
        prom.stop()
        am.stop()
        receiver.stop()
    assert prom.exited() is not None and am.exited() is not None
