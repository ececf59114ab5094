"""Convert a Sloth ``prometheus/v1`` spec into OpenSLO v1 documents.

Sloth's event queries must reduce to ``sum(rate(SELECTOR[{{.window}}]))`` (``rate`` or
``increase``, ``sum`` optional): gameday's rules take metric selectors. A raw
``error_ratio_query`` is accepted only in the form ``<events query> / <events query>``;
anything else is refused, since it cannot be written as an OpenSLO ratioMetric.

Alert labels and annotations keep Sloth's places: ``alerting.labels``/``annotations`` (both
alerts) go on the AlertPolicy's metadata, ``page_alert``/``ticket_alert`` ones on the
AlertCondition of that severity, whose own win, as in Sloth. The service's and the SLO's
``labels`` become the SLO's labels.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gameday.errors import ValidationError

from .alerting import validate_alert_map
from .spec import parse_selector
from .storage import dump_yaml

SLOTH_VERSION = "sloth.slok.dev/v1"
_WINDOW = r"\[\s*\{\{\s*\.window\s*\}\}\s*\]"
_EVENTS = re.compile(r"^\s*(?P<sum>sum\s*\(\s*)?(?:rate|increase)\s*\(\s*(?P<sel>[^\[]+?)\s*"
                     + _WINDOW + r"\s*\)\s*(?(sum)\))\s*$", re.S)


def events_selector(query: object, where: str) -> str:
    match = _EVENTS.match(query) if isinstance(query, str) else None
    if match is None:
        raise ValidationError(f"{where} must be sum(rate(SELECTOR[{{{{.window}}}}])), "
                              f"got {query!r}")
    selector = match.group("sel").strip()
    parse_selector(selector, where)
    return selector


def _split_ratio(query: str) -> tuple[str, str] | None:
    depth = 0
    for i, ch in enumerate(query):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "/" and depth == 0:
            return query[:i], query[i + 1:]
    return None


def _metric(selector: str) -> dict:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": selector}}}


def _metadata(name: str, labels: dict[str, str], annotations: dict[str, str]) -> dict:
    meta: dict = {"name": name}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return meta


def _scalar(value: object) -> object:
    """YAML scalars read as Sloth's string maps read them (``tier: 2`` is "2")."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, (int, float)) else value


def alert_metadata(name: str, raw: dict, field: str, at: str) -> dict:
    """OpenSLO metadata carrying the ``labels`` and ``annotations`` of Sloth's ``field``."""
    maps = []
    for kind in ("labels", "annotations"):
        values = raw.get(kind)
        if isinstance(values, dict):
            values = {k: _scalar(v) for k, v in values.items()}
        maps.append(validate_alert_map(values, f"{at}: {field}.{kind}", labels=kind == "labels"))
    return _metadata(name, *maps)


def _condition(meta: dict, severity: str, factor: float, window: str) -> dict:
    return {"kind": "AlertCondition", "metadata": meta,
            "spec": {"severity": severity,
                     "condition": {"kind": "burnrate", "op": "gte", "threshold": factor,
                                   "lookbackWindow": window}}}


def convert_slo(raw: dict, service: str, labels: dict, where: str) -> dict:
    name = raw.get("name")
    at = f"{where}: slo {name!r}"
    objective = raw.get("objective")
    if isinstance(objective, bool) or not isinstance(objective, (int, float)):
        raise ValidationError(f"{at}: objective must be a percentage, got {objective!r}")
    sli = raw.get("sli") or {}
    if "events" in sli:
        events = sli["events"] or {}
        bad = events_selector(events.get("error_query"), f"{at}: sli.events.error_query")
        total = events_selector(events.get("total_query"), f"{at}: sli.events.total_query")
    elif "raw" in sli:
        query = (sli["raw"] or {}).get("error_ratio_query")
        parts = _split_ratio(query) if isinstance(query, str) else None
        if parts is None:
            raise ValidationError(
                f"{at}: sli.raw.error_ratio_query cannot be expressed as an OpenSLO ratio of "
                f"counters; rewrite it as sli.events (error_query, total_query), got {query!r}")
        bad = events_selector(parts[0], f"{at}: sli.raw.error_ratio_query numerator")
        total = events_selector(parts[1], f"{at}: sli.raw.error_ratio_query denominator")
    else:
        raise ValidationError(f"{at}: sli needs events or raw (plugins are not supported)")
    alerting = raw.get("alerting") or {}
    conditions = []
    for severity, factor, window in (("page", 14.4, "1h"), ("ticket", 3, "1d")):
        alert = alerting.get(f"{severity}_alert") or {}
        if not alert.get("disable"):
            meta = alert_metadata(f"{name}-{severity}", alert, f"alerting.{severity}_alert", at)
            conditions.append(_condition(meta, severity, factor, window))
    policy = alert_metadata(f"{name}-burn", alerting, "alerting", at)
    annotations = {}
    runbook = (alerting.get("annotations") or {}).get("runbook")
    if runbook:
        annotations["gameday/runbook-url"] = str(runbook)
    if alerting.get("name"):
        annotations["gameday/alert-name"] = str(alerting["name"])
    all_labels = {**labels, **(raw.get("labels") or {})}
    meta = _metadata(name, {str(k): str(v) for k, v in all_labels.items()}, annotations)
    return {
        "apiVersion": "openslo/v1", "kind": "SLO", "metadata": meta,
        "spec": {
            "description": str(raw.get("description") or name),
            "service": service,
            "indicator": {"metadata": {"name": f"{name}-sli"},
                          "spec": {"ratioMetric": {"counter": True, "bad": _metric(bad),
                                                   "total": _metric(total)}}},
            "timeWindow": [{"duration": "30d", "isRolling": True}],
            "budgetingMethod": "Occurrences",
            "objectives": [{"target": round(objective / 100, 9)}],
            "alertPolicies": [{"kind": "AlertPolicy", "metadata": policy,
                               "spec": {"conditions": conditions}}] if conditions else [],
        },
    }


def convert_sloth(raw: object, where: str) -> list[dict]:
    if not isinstance(raw, dict) or raw.get("version") != "prometheus/v1":
        version = raw.get("version") if isinstance(raw, dict) else None
        raise ValidationError(f"{where}: version must be 'prometheus/v1' (a Sloth spec), "
                              f"got {version!r}")
    service = raw.get("service")
    if not isinstance(service, str) or not service:
        raise ValidationError(f"{where}: service must be a name, got {service!r}")
    slos = raw.get("slos")
    if not isinstance(slos, list) or not slos:
        raise ValidationError(f"{where}: slos must be a non-empty list")
    docs = [{"apiVersion": "openslo/v1", "kind": "Service", "metadata": {"name": service},
             "spec": {"description": f"Imported from Sloth spec {where}"}}]
    labels = raw.get("labels") or {}
    docs += [convert_slo(s, service, labels, where) for s in slos]
    return docs


def convert_sloth_file(path: Path) -> str:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ValidationError(f"{path}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ValidationError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    docs = convert_sloth(raw, str(path))
    header = (f"# OpenSLO v1, converted from the Sloth spec {path} by 'gameday slo import-sloth'."
              f"\n# Windows and burn-rate factors come from gameday's window catalogs.\n")
    return header + "---\n".join(dump_yaml(d) for d in docs)
