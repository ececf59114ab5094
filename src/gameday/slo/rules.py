"""Prometheus recording and alerting rules for an SLO, with Sloth's names and labels.

Zero traffic: the error ratio divides by ``(sum(rate(total[w])) > 0)``, so a window without
traffic records no sample instead of NaN (Prometheus gives NaN for 0/0); alerts then stay
quiet and the period average counts only windows that had traffic. A missing bad series
(no error ever counted) reads as 0 through ``or vector(0)``.

Only the PromQL the embedded evaluator supports is used: selectors, rate, sum_over_time,
count_over_time, sum/max without, arithmetic, comparisons, and/or, on/ignoring/group_left,
vector().
"""

from __future__ import annotations

from . import names
from .model import SLO, Catalog, Selector
from .names import format_duration, format_number

GAMEDAY_VERSION_LABEL = "gameday"


def slo_labels(slo: SLO) -> dict[str, str]:
    return {names.LABEL_ID: slo.id, names.LABEL_SERVICE: slo.service, names.LABEL_SLO: slo.name}


def slo_matchers(slo: SLO) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in slo_labels(slo).items())


def _rate(selector: Selector, window: str) -> str:
    return f"sum(rate({selector.text()}[{window}]))"


def error_ratio_expr(slo: SLO, window: str) -> str:
    ind = slo.indicator
    total = f"({_rate(ind.total, window)} > 0)"
    if ind.bad is not None:
        return f"({_rate(ind.bad, window)} or vector(0))\n/\n{total}"
    return f"1 - (\n  ({_rate(ind.good, window)} or vector(0))\n  /\n  {total}\n)"


def build_sli_recording_rules(slo: SLO, catalog: Catalog) -> list[dict]:
    rules = []
    for seconds in catalog.windows():
        window = format_duration(seconds)
        rules.append({
            "record": names.sli_error_record(window),
            "expr": error_ratio_expr(slo, window) + "\n",
            "labels": {**slo_labels(slo), names.LABEL_WINDOW: window},
        })
    shortest = format_duration(catalog.windows()[0])
    period = format_duration(catalog.period_s)
    source = f"{names.sli_error_record(shortest)}{{{slo_matchers(slo)}}}"
    rules.append({
        "record": names.sli_error_record(period),
        "expr": (f"sum_over_time({source}[{period}])\n/ ignoring ({names.LABEL_WINDOW})\n"
                 f"count_over_time({source}[{period}])\n"),
        "labels": {**slo_labels(slo), names.LABEL_WINDOW: period},
    })
    return rules


def build_meta_recording_rules(slo: SLO, catalog: Catalog) -> list[dict]:
    labels = slo_labels(slo)
    match = slo_matchers(slo)
    shortest = format_duration(catalog.windows()[0])
    period = format_duration(catalog.period_s)
    on = f"on ({', '.join(names.SLO_LABELS)}) group_left"
    budget = f"{names.ERROR_BUDGET}{{{match}}}"
    return [
        {"record": names.OBJECTIVE, "expr": f"vector({format_number(slo.target)})",
         "labels": labels},
        {"record": names.ERROR_BUDGET, "expr": f"vector({format_number(slo.error_budget)})",
         "labels": labels},
        {"record": names.TIME_PERIOD_DAYS,
         "expr": f"vector({format_number(catalog.period_s / 86400)})", "labels": labels},
        {"record": names.CURRENT_BURN_RATE,
         "expr": f"{names.sli_error_record(shortest)}{{{match}}}\n/ {on}\n{budget}\n",
         "labels": labels},
        {"record": names.PERIOD_BURN_RATE,
         "expr": f"{names.sli_error_record(period)}{{{match}}}\n/ {on}\n{budget}\n",
         "labels": labels},
        {"record": names.PERIOD_BUDGET_REMAINING,
         "expr": f"1 - {names.PERIOD_BURN_RATE}{{{match}}}", "labels": labels},
        {"record": names.SLO_INFO, "expr": "vector(1)",
         "labels": {**labels, "sloth_mode": "cli-gen-openslo", "sloth_spec": "openslo/v1",
                    "sloth_version": GAMEDAY_VERSION_LABEL, "sloth_objective":
                    format_number(round(slo.target * 100, 9))}},
    ]


# A ticket needs this many events in its long window (slos/README.md, "Minimum events"):
# the error ratio of fewer events is too noisy to open one on, and tickets are not urgent.
MIN_TICKET_EVENTS = 500


def alert_expr(slo: SLO, catalog: Catalog, severity: str) -> str:
    """Sloth's form: ``(short > f*budget and long > f*budget) or (...)``; a ticket's
    windows also need ``MIN_TICKET_EVENTS`` events in the long window."""
    match = slo_matchers(slo)
    budget = format_number(slo.error_budget)
    parts = []
    for alert in (a for a in catalog.alerts if a.severity == severity):
        factor = format_number(alert.factor)
        sides = [
            f"    max({names.sli_error_record(format_duration(w))}{{{match}}} > "
            f"({factor} * {budget})) without ({names.LABEL_WINDOW})"
            for w in (alert.short_s, alert.long_s)
        ]
        if severity == "ticket":
            long = format_duration(alert.long_s)
            sides.append(f"    on () ({_rate(slo.indicator.total, long)} * "
                         f"{format_number(alert.long_s)} >= {MIN_TICKET_EVENTS})")
        parts.append("(\n" + "\n    and\n".join(sides) + "\n)")
    return "\nor\n".join(parts) + "\n"


def runbook_url(slo: SLO, alert: str, base: str) -> str:
    return slo.runbook_url or f"{base.rstrip('/')}/{alert}.md"


def alert_labels(slo: SLO, severity: str) -> dict[str, str]:
    """The SLO's labels, then its alert's own for this severity (Sloth's alerting labels,
    page_alert/ticket_alert ones winning), then ``sloth_severity``."""
    return {**slo.labels, **slo.alert_labels.get(severity, {}), names.LABEL_SEVERITY: severity}


def alert_annotations(slo: SLO, severity: str, catalog: Catalog, base: str) -> dict[str, str]:
    """gameday's summary, description and runbook_url; the alert's own annotations for this
    severity win (as Sloth's do over its default title and summary)."""
    alert = slo.alert
    budget = format_number(round(slo.error_budget * 100, 9))
    defaults = {
        "summary": f"{slo.service}: SLO {slo.name} is burning its error budget too fast "
                   f"({severity})",
        "description": f"{slo.description}. Objective {format_number(round(slo.target * 100, 9))}% "
                       f"(error budget {budget}%) over {format_duration(catalog.period_s)}, "
                       f"windows from the {catalog.name} catalog.",
        "runbook_url": runbook_url(slo, alert, base),
    }
    return {**defaults, **slo.alert_annotations.get(severity, {})}


def build_alert_rules(slo: SLO, catalog: Catalog, runbook_base: str) -> list[dict]:
    rules = []
    alert = slo.alert
    for severity in slo.severities:
        if not any(a.severity == severity for a in catalog.alerts):
            continue
        rules.append({
            "alert": alert,
            "expr": alert_expr(slo, catalog, severity),
            "labels": alert_labels(slo, severity),
            "annotations": alert_annotations(slo, severity, catalog, runbook_base),
        })
    return rules


def build_rule_groups(slo: SLO, catalog: Catalog, runbook_base: str) -> list[dict]:
    groups = [
        {"name": f"sloth-slo-sli-recordings-{slo.id}",
         "rules": build_sli_recording_rules(slo, catalog)},
        {"name": f"sloth-slo-meta-recordings-{slo.id}",
         "rules": build_meta_recording_rules(slo, catalog)},
    ]
    alerts = build_alert_rules(slo, catalog, runbook_base)
    if alerts:
        groups.append({"name": f"sloth-slo-alerts-{slo.id}", "rules": alerts})
    return groups
