"""Convert a Sloth ``prometheus/v1`` spec into OpenSLO v1 documents.

Sloth's event queries must reduce to ``sum(rate(SELECTOR[{{.window}}]))`` (``rate`` or
``increase``, ``sum`` optional): gameday's rules take metric selectors. A raw
``error_ratio_query`` is accepted only in the form ``<events query> / <events query>``;
anything else is refused, since it cannot be written as an OpenSLO ratioMetric.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gameday.errors import ValidationError

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


def _condition(name: str, severity: str, factor: float, window: str) -> dict:
    return {"kind": "AlertCondition", "metadata": {"name": name},
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
    if not (alerting.get("page_alert") or {}).get("disable"):
        conditions.append(_condition(f"{name}-page", "page", 14.4, "1h"))
    if not (alerting.get("ticket_alert") or {}).get("disable"):
        conditions.append(_condition(f"{name}-ticket", "ticket", 3, "1d"))
    annotations = {}
    runbook = (alerting.get("annotations") or {}).get("runbook")
    if runbook:
        annotations["gameday/runbook-url"] = str(runbook)
    if alerting.get("name"):
        annotations["gameday/alert-name"] = str(alerting["name"])
    meta: dict = {"name": name}
    all_labels = {**labels, **(raw.get("labels") or {}), **(alerting.get("labels") or {})}
    if all_labels:
        meta["labels"] = {str(k): str(v) for k, v in all_labels.items()}
    if annotations:
        meta["annotations"] = annotations
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
            "alertPolicies": [{"kind": "AlertPolicy", "metadata": {"name": f"{name}-burn"},
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
