"""Prometheus rule groups: loading rule files and evaluating them over a SampleStore.

Evaluation follows Prometheus 2.x: rules of a group run in file order at the group's
timestamp; recording-rule results are appended to the store at that timestamp (so later
rules and groups see them) and series a rule stops producing get a stale marker; alerting
rules go pending -> firing once active for ``for``, and resolve when their series goes
away. Active alerts are also written back as ``ALERTS`` series, as Prometheus does.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from gameday.durations import parse_prometheus_duration
from gameday.engine.promql import PromQLError, drop_name, evaluate, parse
from gameday.engine.store import Labels, SampleStore, make_labels, to_ms
from gameday.errors import ValidationError

PENDING, FIRING, INACTIVE = "pending", "firing", "inactive"
RESOLVED_RETENTION = 15 * 60.0


@dataclass
class Rule:
    name: str
    expr: str
    kind: str  # "record" or "alert"
    for_s: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.node = parse(self.expr)


@dataclass
class Alert:
    labels: Labels
    annotations: dict[str, str]
    state: str
    active_at: float
    value: float
    fired_at: float | None = None
    resolved_at: float | None = None

    @property
    def name(self) -> str:
        return dict(self.labels).get("alertname", "")

    def as_dict(self) -> dict:
        return {"labels": dict(self.labels), "annotations": self.annotations,
                "state": self.state, "active_at": self.active_at, "value": self.value,
                "fired_at": self.fired_at, "resolved_at": self.resolved_at}


class RuleGroup:
    """One group of rules and the state Prometheus keeps for it between evaluations."""

    def __init__(self, name: str, interval: float, rules: list[Rule], source: str = "") -> None:
        self.name, self.interval, self.rules, self.source = name, interval, rules, source
        self._active: dict[int, dict[Labels, Alert]] = {}
        self._written: dict[int, set[Labels]] = {}
        self.last_eval: float | None = None
        self.errors: dict[str, str] = {}  # rule name -> error of its last evaluation

    def evaluate(self, store: SampleStore, t: float) -> None:
        """Run every rule once at ``t`` (seconds), in order."""
        for index, rule in enumerate(self.rules):
            try:
                vector = self._query(store, rule, t)
            except PromQLError as exc:  # like Prometheus: log it, go on with the group
                self.errors[rule.name] = str(exc)
                continue
            self.errors.pop(rule.name, None)
            if rule.kind == "record":
                written = self._record(store, rule, vector, t)
            else:
                written = self._alert(store, index, rule, vector, t)
            for gone in self._written.get(index, set()) - written:
                store.mark_stale(gone, t)
            self._written[index] = written
        self.last_eval = t

    def _query(self, store: SampleStore, rule: Rule, t: float) -> list[tuple[Labels, float]]:
        result = evaluate(store, rule.expr, t)
        if isinstance(result, float):
            if rule.kind == "alert":
                raise PromQLError(f"alerting rule '{rule.name}': expression must return a "
                                  f"vector, got a scalar in: {rule.expr}")
            return [((), result)]
        return result

    @staticmethod
    def _record(store, rule, vector, t) -> set[Labels]:
        written = set()
        for key, value in vector:
            labels = dict(key)
            labels.update(rule.labels)
            labels["__name__"] = rule.name
            out = make_labels(labels)
            if out in written:
                raise PromQLError(f"recording rule '{rule.name}': vector contains metrics "
                                  f"with the same labelset after applying rule labels")
            written.add(out)
            store.append(out, t, value)
        return written

    def _alert(self, store, index, rule, vector, t) -> set[Labels]:
        active = self._active.setdefault(index, {})
        seen: set[Labels] = set()
        for key, value in vector:
            base = dict(drop_name(key))
            labels = dict(base)
            for k, v in rule.labels.items():
                labels[k] = expand_template(v, base, value)
            labels["alertname"] = rule.name
            lbls = make_labels(labels)
            if lbls in seen:
                raise PromQLError(f"alerting rule '{rule.name}': vector contains metrics with "
                                  f"the same labelset after applying alert labels")
            seen.add(lbls)
            annotations = {k: expand_template(v, base, value)
                           for k, v in rule.annotations.items()}
            alert = active.get(lbls)
            if alert is not None and alert.state != INACTIVE:
                alert.value, alert.annotations = value, annotations
                continue
            active[lbls] = Alert(lbls, annotations, PENDING, t, value)
        written = set()
        for lbls, alert in list(active.items()):
            if lbls not in seen:
                expired = (alert.resolved_at is not None
                           and t - alert.resolved_at > RESOLVED_RETENTION)
                if alert.state == PENDING or expired:
                    del active[lbls]
                elif alert.state != INACTIVE:
                    alert.state, alert.resolved_at = INACTIVE, t
                continue
            if alert.state == PENDING and t - alert.active_at >= rule.for_s:
                alert.state, alert.fired_at = FIRING, t
            series = make_labels({**dict(lbls), "__name__": "ALERTS", "alertstate": alert.state})
            store.append(series, t, 1.0)
            written.add(series)
        return written

    def alerts(self, include_inactive: bool = False) -> list[Alert]:
        """Pending and firing alerts (``ALERTS``-like), in rule order."""
        return [a for index in sorted(self._active) for a in self._active[index].values()
                if include_inactive or a.state != INACTIVE]


def evaluate_groups(groups: list[RuleGroup], store: SampleStore, t: float) -> list[Alert]:
    """Evaluate, at ``t``, every group whose interval has passed since its last evaluation.

    Called on every tick (say each second), each group still runs at its own interval;
    called at multiples of the interval from 0, it runs as promtool's test loop does.
    """
    for group in groups:
        if group.last_eval is None or to_ms(t) - to_ms(group.last_eval) >= to_ms(group.interval):
            group.evaluate(store, t)
    return [a for group in groups for a in group.alerts()]


# -- loading ------------------------------------------------------------------------------
def load_rule_file(path: str | Path, default_interval: float = 60.0) -> list[RuleGroup]:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"{path}: cannot read rule file: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise ValidationError(f"{path}: expected a mapping with a 'groups' list")
    return [_load_group(path, g, default_interval) for g in doc["groups"]]


def _load_group(path: Path, raw: dict, default_interval: float) -> RuleGroup:
    name = raw.get("name") if isinstance(raw, dict) else None
    if not name:
        raise ValidationError(f"{path}: every group needs a 'name'")
    interval = parse_duration(raw["interval"], f"{path}: group {name!r}: interval") \
        if raw.get("interval") else default_interval
    rules = []
    for i, r in enumerate(raw.get("rules") or []):
        where = f"{path}: group {name!r}: rule {i + 1}"
        kind = "record" if "record" in r else "alert" if "alert" in r else None
        if kind is None or not r.get("expr"):
            raise ValidationError(f"{where}: needs 'record' or 'alert', and 'expr'")
        for_s = parse_duration(r["for"], f"{where}: for") if r.get("for") else 0.0
        try:
            rules.append(Rule(str(r[kind]), str(r["expr"]), kind, for_s,
                              {k: str(v) for k, v in (r.get("labels") or {}).items()},
                              {k: str(v) for k, v in (r.get("annotations") or {}).items()}))
        except PromQLError as exc:
            raise ValidationError(f"{where}: {exc}") from None
    return RuleGroup(str(name), interval, rules, str(path))


def parse_duration(text: str, where: str) -> float:
    """A Prometheus duration (``90s``, ``1h30m``, ``0s``) in seconds."""
    return parse_prometheus_duration(str(text), where)


# -- templates (the common subset of Prometheus's Go templates) ---------------------------
_TEMPLATE = re.compile(r"\{\{\s*(\$labels\.(\w+)|\.Labels\.(\w+)|\$value|\.Value)"
                       r"\s*(\|\s*(humanize|humanizePercentage)\s*)?\}\}")


def expand_template(text: str, labels: dict[str, str], value: float) -> str:
    if "{{" not in text:
        return text

    def replace(match: re.Match) -> str:
        name = match.group(2) or match.group(3)
        if name:
            return labels.get(name, "")
        if match.group(5) == "humanizePercentage":
            return _go_g4(value * 100) + "%"
        if match.group(5) == "humanize":
            return _go_g4(value)
        return go_float(value)

    return _TEMPLATE.sub(replace, text)


def go_float(v: float) -> str:
    """Go's ``%v`` of a float64 (what ``{{ $value }}`` prints)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    sign, digits, exp = Decimal(repr(v)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + exp  # position of the decimal point
    x = point - 1
    prefix = "-" if sign else ""
    if x < -4 or x >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def _go_g4(v: float) -> str:
    return f"{v:.4g}"
