"""Alerts reaching the drill: state changes turned into timeline events and pages.

Two sources feed one ``AlertBook``:
- polling the run's query API (``/api/v1/alerts``: the embedded engine, or Prometheus);
- Alertmanager's webhook (``--prometheus``), parsed by gameday.prometheus.webhook.

Each alert is known by (alertname, SLO, severity). A new firing one gives ``alert_firing``
and, for the responder, ``page`` (severity page) or ``ticket``; one that stops firing gives
``alert_resolved``. Pages carry the SLO, the burn rate and the runbook link.
"""

from __future__ import annotations

import re
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


# one condition of a Sloth burn-rate alert: the SLI error ratio over a window above
# (factor * error budget); an alert's condition pairs a short and a long window
_CONDITION = re.compile(r"slo:sli_error:ratio_rate(\w+)\{[^}]*\}\s*>\s*"
                        r"\(\s*([0-9.eE+-]+)\s*\*\s*([0-9.eE+-]+)\s*\)")
_SLOTH_ID = re.compile(r'sloth_id="([^"]+)"')


def alert_conditions(rule_files) -> dict[tuple[str, str], list[tuple[float, float, list[str]]]]:
    """(SLO id, severity) -> its burn-rate alert's conditions, highest factor first: (factor,
    error budget, windows), e.g. (14.4, 0.001, ["5s", "1m"]) for a page."""
    from gameday.engine.ruleeval import load_rule_file

    out: dict[tuple[str, str], list[tuple[float, float, list[str]]]] = {}
    for path in rule_files:
        for group in load_rule_file(path):
            for rule in group.rules:
                slo = _SLOTH_ID.search(rule.expr) if rule.kind == "alert" else None
                if slo is None:
                    continue
                conditions: dict[tuple[float, float], list[str]] = {}
                for window, factor, budget in _CONDITION.findall(rule.expr):
                    try:
                        key = (float(factor), float(budget))
                    except ValueError:
                        continue
                    conditions.setdefault(key, []).append(window)
                severity = rule.labels.get("sloth_severity") or rule.labels.get(
                    "severity") or "page"
                out[(slo.group(1), severity)] = sorted(
                    ((f, b, w) for (f, b), w in conditions.items() if b > 0), reverse=True)
    return out


def burn_rate_reader(api, catalog: str | None = None) -> Callable[[str, str], float | None]:
    """The burn rate an SLO's alert fired on, for its page or ticket.

    With the ``catalog`` whose rules the stack runs: the burn over the short window of the
    alert's highest condition that holds (a page's 14.4x over 5s and 1m: the 5s burn; a
    ticket's 3x over 2m and 24m: the 2m burn), read from the SLI ratios the alert itself
    read. A ticket fires late in a slow burn or after a fast one, when the current burn
    (the shortest window) may already be 0x: the ticket says the burn it fired on. When no
    condition holds any more, or for an alert that is not a burn-rate alert, the
    ``slo:current_burn_rate:ratio`` rule's expression is evaluated over the SLI ratios (the
    rule's own output series comes from a group with its own phase, Prometheus's, kept by
    the embedded engine, and can lag the alert's group by up to one interval, which at the
    first page of a sudden burn still says 0x). Without the catalog, the series is read."""
    from gameday.errors import GamedayError
    from gameday.resources import rule_files, rules_dir
    from gameday.slo.status import window_seconds

    try:
        files = rule_files(rules_dir(catalog)) if catalog else []
        exprs, conditions = current_burn_exprs(files), alert_conditions(files)
    except GamedayError:  # no generated rules here
        exprs, conditions = {}, {}

    def ratio(slo_id: str, window: str) -> float | None:
        samples = api.query(f'slo:sli_error:ratio_rate{window}{{sloth_id="{slo_id}"}}')
        return samples[0].value if samples else None

    def read(slo_id: str, severity: str = "page") -> float | None:
        for factor, budget, windows in conditions.get((slo_id, severity), []):
            ratios = [ratio(slo_id, w) for w in sorted(windows, key=window_seconds)]
            if ratios and all(r is not None and r / budget > factor for r in ratios):
                return round(ratios[0] / budget, 2)
        expr = exprs.get(slo_id) or f'{CURRENT_BURN}{{sloth_id="{slo_id}"}}'
        samples = api.query(expr)
        return round(samples[0].value, 2) if samples else None

    return read
