"""Alertmanager config rendering (checked by amtool), and webhook payload parsing."""

import json
import threading

import httpx
import pytest
import yaml

from gameday.errors import StackError, ValidationError
from gameday.prometheus import alertmanager
from gameday.prometheus.alertmanager import AlertmanagerConfig, check_config, find_alertmanager
from gameday.prometheus.server import PrometheusConfig
from gameday.prometheus.webhook import AlertNotice, WebhookReceiver, parse_time, parse_webhook
from tests.conftest import require_binary

HOOK = "http://127.0.0.1:18080/alerts"

# As Alertmanager 0.25 posts it for a Sloth-generated page alert.
FIRING = {
    "receiver": "gameday-webhook",
    "status": "firing",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "GatewayAvailabilityBurn", "sloth_id": "gateway-availability",
                   "sloth_service": "gateway", "sloth_slo": "availability",
                   "sloth_severity": "page", "severity": "critical"},
        "annotations": {"summary": "gateway availability burns its budget fast",
                        "description": "burn rate 14.4x over 1m and 5m",
                        "runbook_url": "runbooks/gateway-availability.md"},
        "startsAt": "2026-11-27T08:30:01.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=vector%281%29",
        "fingerprint": "b6a1f3c2d4e5f607",
    }],
    "groupLabels": {"alertname": "GatewayAvailabilityBurn"},
    "commonLabels": {"alertname": "GatewayAvailabilityBurn"},
    "commonAnnotations": {},
    "externalURL": "http://127.0.0.1:9093",
    "version": "4",
    "groupKey": '{}:{alertname="GatewayAvailabilityBurn"}',
    "truncatedAlerts": 0,
}


def resolved_payload() -> dict:
    body = json.loads(json.dumps(FIRING))
    body["status"] = "resolved"
    body["alerts"][0]["status"] = "resolved"
    body["alerts"][0]["endsAt"] = "2026-11-27T10:31:00+02:00"
    return body


def test_config_routes_everything_to_one_webhook_that_sends_resolved():
    config = AlertmanagerConfig(HOOK).render()
    assert config["route"]["receiver"] == "gameday-webhook"
    assert config["route"]["group_by"] == ["alertname", "sloth_id", "sloth_severity"]
    assert (config["route"]["group_wait"], config["route"]["group_interval"],
            config["route"]["repeat_interval"]) == ("1s", "1s", "1h")
    [receiver] = config["receivers"]
    assert receiver["name"] == "gameday-webhook"
    assert receiver["webhook_configs"] == [{"url": HOOK, "send_resolved": True,
                                            "max_alerts": 0}]
    assert config["global"] == {"resolve_timeout": "5m"}
    assert yaml.safe_load(AlertmanagerConfig(HOOK).to_yaml()) == config


def test_config_rejects_a_webhook_that_is_not_a_url():
    with pytest.raises(ValidationError, match="webhook_url.*'localhost:1/alerts'"):
        AlertmanagerConfig("localhost:1/alerts").render()


def test_amtool_accepts_the_rendered_config(tmp_path):
    require_binary("amtool")
    path = tmp_path / "alertmanager.yml"
    path.write_text(AlertmanagerConfig(HOOK, group_interval="2s", resolve_timeout="1m").to_yaml())
    assert check_config(path) is True


def test_amtool_rejects_a_broken_config(tmp_path):
    require_binary("amtool")
    path = tmp_path / "alertmanager.yml"
    path.write_text("route:\n  receiver: nobody\nreceivers: []\n")
    with pytest.raises(ValidationError, match="amtool check-config failed"):
        check_config(path)


def test_check_config_without_amtool_checks_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(alertmanager.shutil, "which", lambda name: None)
    assert check_config(tmp_path / "whatever.yml") is False


def test_find_alertmanager_prefers_the_debian_name(monkeypatch):
    monkeypatch.setattr(alertmanager.shutil, "which",
                        lambda name: f"/usr/bin/{name}" if "alertmanager" in name else None)
    assert find_alertmanager() == "/usr/bin/prometheus-alertmanager"
    monkeypatch.setattr(alertmanager.shutil, "which",
                        lambda name: "/opt/am/alertmanager" if name == "alertmanager" else None)
    assert find_alertmanager() == "/opt/am/alertmanager"
    monkeypatch.setattr(alertmanager.shutil, "which", lambda name: None)
    with pytest.raises(StackError, match="apt-get install prometheus-alertmanager"):
        find_alertmanager()


def test_prometheus_config_points_at_alertmanager():
    config = PrometheusConfig(targets={}, alertmanager="127.0.0.1:9093").render()
    assert config["alerting"] == {"alertmanagers": [
        {"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]}
    assert "alerting" not in PrometheusConfig(targets={}).render()


def test_a_firing_page_carries_alert_slo_severity_and_runbook():
    [notice] = parse_webhook(FIRING)
    assert notice.alertname == "GatewayAvailabilityBurn"
    assert notice.status == "firing" and notice.firing
    assert notice.severity == "page"  # sloth_severity wins over severity
    assert (notice.slo_id, notice.service) == ("gateway-availability", "gateway")
    assert notice.runbook_url == "runbooks/gateway-availability.md"
    assert notice.summary == "gateway availability burns its budget fast"
    assert notice.description == "burn rate 14.4x over 1m and 5m"
    assert notice.starts_at == pytest.approx(1795768201.123456789, abs=1e-6)
    assert notice.ends_at is None  # Go's zero time
    assert notice.fingerprint == "b6a1f3c2d4e5f607"
    assert notice.generator_url.startswith("http://127.0.0.1:9090/graph")
    assert notice.labels["sloth_slo"] == "availability"


def test_a_resolved_notice_has_its_end_time():
    [notice] = parse_webhook(resolved_payload())
    assert notice.status == "resolved" and not notice.firing
    assert notice.ends_at == 1795768260.0  # 08:31:00 UTC


def test_plain_severity_label_and_missing_optional_fields():
    body = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "Up", "severity": "ticket"}}]}
    assert parse_webhook(body) == [AlertNotice(alertname="Up", status="firing",
                                               severity="ticket",
                                               labels={"alertname": "Up",
                                                       "severity": "ticket"})]
    assert parse_webhook({"alerts": []}) == []


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b.update(alerts="nope"), r"alerts: expected a list, got 'nope'"),
    (lambda b: b.update(version="3"), r"version: only version 4 .* got '3'"),
    (lambda b: b.update(status="pending"), r"payload: status: .* got 'pending'"),
    (lambda b: b["alerts"][0].update(status="pending"), r"alerts\[0\]\.status: .*'pending'"),
    (lambda b: b["alerts"][0].update(startsAt="yesterday"),
     r"alerts\[0\]\.startsAt: not an RFC 3339 time: 'yesterday'"),
    (lambda b: b["alerts"][0].update(endsAt=12), r"alerts\[0\]\.endsAt: .* got 12"),
    (lambda b: b["alerts"][0]["labels"].pop("alertname"), r"alerts\[0\]\.labels\.alertname"),
    (lambda b: b["alerts"][0]["labels"].update(sloth_id=7), r"labels\.sloth_id: .* got 7"),
    (lambda b: b["alerts"][0].update(annotations=["x"]), r"annotations: .* got \['x'\]"),
    (lambda b: b["alerts"].append("junk"), r"alerts\[1\]: expected an object, got 'junk'"),
])
def test_bad_payloads_name_the_field_and_value(mutate, message):
    body = json.loads(json.dumps(FIRING))
    mutate(body)
    with pytest.raises(ValidationError, match=message):
        parse_webhook(body)


def test_a_payload_that_is_not_an_object_is_refused():
    with pytest.raises(ValidationError, match="expected a JSON object, got"):
        parse_webhook([FIRING])


def test_parse_time_handles_offsets_fractions_and_zero_time():
    assert parse_time("1970-01-01T00:00:01.5Z", "t") == 1.5
    assert parse_time("1970-01-01T01:00:00+01:00", "t") == 0.0
    assert parse_time("0001-01-01T00:00:00Z", "t") is None
    assert parse_time(None, "t") is None
    with pytest.raises(ValidationError, match="t: not a valid date and time: '2026-02-30"):
        parse_time("2026-02-30T00:00:00Z", "t")


def test_the_receiver_hands_notices_to_the_callback_and_refuses_bad_payloads():
    got: list[AlertNotice] = []
    done = threading.Event()

    def callback(notices):
        got.extend(notices)
        done.set()

    with WebhookReceiver(callback) as receiver:
        assert receiver.port != 0 and receiver.url.endswith("/alerts")
        resp = httpx.post(receiver.url, json=FIRING, timeout=5)
        assert resp.status_code == 200 and resp.json() == {"received": 1}
        assert done.wait(5) and got[0].slo_id == "gateway-availability"
        bad = httpx.post(receiver.url, json={"alerts": [{"status": "odd"}]}, timeout=5)
        assert bad.status_code == 400 and "alerts[0].status" in bad.json()["error"]
        junk = httpx.post(receiver.url, content=b"{not json", timeout=5)
        assert junk.status_code == 400 and "not JSON" in junk.json()["error"]
        assert httpx.post(receiver.url.replace("/alerts", "/x"), json=FIRING,
                          timeout=5).status_code == 404
    assert len(got) == 1


def test_a_failing_callback_answers_500_so_alertmanager_retries():
    def callback(notices):
        raise RuntimeError("controller busy")

    with WebhookReceiver(callback) as receiver:
        resp = httpx.post(receiver.url, json=FIRING, timeout=5)
        assert resp.status_code == 500 and "controller busy" in resp.json()["error"]
