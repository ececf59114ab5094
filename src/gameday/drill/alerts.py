"""Alerts reaching the drill: state changes turned into timeline events and pages.

Two sources feed one ``AlertBook``:
- polling the run's query API (``/api/v1/alerts``: the embedded engine, or Prometheus);
- Alertmanager's webhook (``--prometheus``), parsed by gameday.prometheus.webhook.

Each alert is known by (alertname, SLO, severity). A new firing one gives ``alert_firing``
and, for the responder, ``page`` (severity page) or ``ticket``; one that stops firing gives
``alert_resolved``. Pages carry the SLO, the burn rate and the runbook link.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class ActiveAlert:
    alert: str
    severity: str
    slo_id: str | None
    runbook_url: str | None
    summary: str | None
    since: float
    burn_rate: float | None = None

    @property
    def key(self) -> tuple:
        return (self.alert, self.slo_id, self.severity)

    def as_fields(self) -> dict:
        return {"alert": self.alert, "severity": self.severity, "slo_id": self.slo_id,
                "runbook_url": self.runbook_url, "burn_rate": self.burn_rate,
                "text": self.summary}


def from_prometheus(alert: dict) -> ActiveAlert | None:
    """An entry of /api/v1/alerts when firing, else None."""
    if alert.get("state") != "firing":
        return None
    labels, ann = alert.get("labels", {}), alert.get("annotations", {})
    severity = labels.get("sloth_severity") or labels.get("severity") or "page"
    return ActiveAlert(labels.get("alertname", "?"), severity, labels.get("sloth_id"),
                       ann.get("runbook_url"), ann.get("summary"), time.time())


class AlertBook:
    """The alerts firing now; reports changes through ``emit(kind, **fields)``."""

    def __init__(self, emit: Callable[..., None],
                 burn_rate: Callable[[str, str], float | None] | None = None) -> None:
        self.emit = emit
        self.burn_rate = burn_rate
        self.active: dict[tuple, ActiveAlert] = {}
        self.history: list[ActiveAlert] = []
        self._lock = threading.Lock()

    def replace(self, firing: list[ActiveAlert]) -> None:
        """A full view (a poll): new ones fire, missing ones resolve."""
        with self._lock:
            now = {a.key: a for a in firing}
            for key, alert in now.items():
                if key not in self.active:
                    self._fire(alert)
            for key in [k for k in self.active if k not in now]:
                self._resolve(key)

    def notice(self, alert: ActiveAlert, firing: bool) -> None:
        """One change (a webhook notice)."""
        with self._lock:
            if firing and alert.key not in self.active:
                self._fire(alert)
            elif not firing and alert.key in self.active:
                self._resolve(alert.key)

    def _fire(self, alert: ActiveAlert) -> None:
        if alert.burn_rate is None and self.burn_rate is not None and alert.slo_id:
            try:
                alert.burn_rate = self.burn_rate(alert.slo_id, alert.severity)
            except Exception:
                alert.burn_rate = None
        self.active[alert.key] = alert
        self.history.append(alert)
        fields = alert.as_fields()
        self.emit("alert_firing", who="alerting", **fields)
        self.emit("page" if alert.severity == "page" else "ticket", who="alerting", **fields)

    def _resolve(self, key: tuple) -> None:
        alert = self.active.pop(key)
        self.emit("alert_resolved", who="alerting", alert=alert.alert,
                  severity=alert.severity, slo_id=alert.slo_id,
                  text=f"{alert.alert} ({alert.severity}) resolved")

    def firing(self) -> list[ActiveAlert]:
        with self._lock:
            return list(self.active.values())


def poll_alerts(api) -> list[ActiveAlert]:
    """Firing alerts from a Prometheus-compatible API (``PrometheusAPI``)."""
    return [a for a in (from_prometheus(x) for x in api.alerts()) if a is not None]


CURRENT_BURN = "slo:current_burn_rate:ratio"


def current_burn_exprs(rule_files) -> dict[str, str]:
    """SLO id -> the expression of its ``slo:current_burn_rate:ratio`` recording rule."""
    from gameday.engine.ruleeval import load_rule_file

    exprs = {}
    for path in rule_files:
        for group in load_rule_file(path):
            for rule in group.rules:
                if rule.kind == "record" and rule.name == CURRENT_BURN \
                        and rule.labels.get("sloth_id"):
                    exprs[rule.labels["sloth_id"]] = rule.expr
    return exprs


def burn_rate_reader(api, catalog: str | None = None) -> Callable[[str, str], float | None]:
    """The burn rate an SLO's alert fired on, for its page or ticket.

    With the ``catalog`` whose rules the stack runs: the burn over the short window of the
    alert's highest condition that holds (a page's 14.4x over 5s and 1m: the 5s burn; a
    ticket's 3x over 2m and 24m: the 2m burn), read from the SLI ratios the alert itself
    read; the conditions are the catalog's burn alerts (slos/windows/<catalog>.yaml, which
    the rules were generated from) and the error budget the SLO's spec. A ticket fires
    late in a slow burn or after a fast one, when the current burn (the shortest window)
    may already be 0x: the ticket says the burn it fired on. When no
    condition holds any more, or for an alert that is not a burn-rate alert, the
    ``slo:current_burn_rate:ratio`` rule's expression is evaluated over the SLI ratios (the
    rule's own output series comes from a group with its own phase, Prometheus's, kept by
    the embedded engine, and can lag the alert's group by up to one interval, which at the
    first page of a sudden burn still says 0x). Without the catalog, the series is read."""
    from gameday.errors import GamedayError
    from gameday.resources import rule_files, rules_dir, windows_dir
    from gameday.slo.consumption import load_slos_for_rules
    from gameday.slo.names import format_duration, sli_error_record
    from gameday.slo.windows import load_catalog

    try:
        files = rule_files(rules_dir(catalog)) if catalog else []
        exprs = current_burn_exprs(files)
        budgets = {slo.id: slo.error_budget for slo in load_slos_for_rules(files)}
        alerts = load_catalog(windows_dir(), catalog).alerts if catalog else ()
    except GamedayError:  # no generated rules or window catalog here
        exprs, budgets, alerts = {}, {}, ()

    def ratio(slo_id: str, window_s: float) -> float | None:
        name = sli_error_record(format_duration(window_s))
        samples = api.query(f'{name}{{sloth_id="{slo_id}"}}')
        return samples[0].value if samples else None

    def read(slo_id: str, severity: str = "page") -> float | None:
        budget = budgets.get(slo_id)
        conditions = sorted((a for a in alerts if a.severity == severity),
                            key=lambda a: a.factor, reverse=True)
        for alert in conditions if budget else ():
            ratios = [ratio(slo_id, w) for w in (alert.short_s, alert.long_s)]
            if all(r is not None and r > alert.factor * budget for r in ratios):
                return round(ratios[0] / budget, 2)
        expr = exprs.get(slo_id) or f'{CURRENT_BURN}{{sloth_id="{slo_id}"}}'
        samples = api.query(expr)
        return round(samples[0].value, 2) if samples else None

    return read
