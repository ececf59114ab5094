"""promtool unit tests for an SLO's rules: series that must page, must ticket, stay quiet.

Each test feeds steady traffic with a chosen burn rate, computes (the way Prometheus 2.x
does, on the same samples) the error ratio of every alert window at the evaluation time,
and expects exactly the alerts that follow. A case whose ratios fall within 5% of a
threshold is refused rather than left to rounding.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from gameday.errors import ValidationError

from . import names
from .model import SLO, Catalog, Selector
from .names import format_duration, format_number
from .rules import alert_annotations, alert_labels, slo_labels
from .spec import matches

TRAFFIC_PER_STEP = 1000.0
MARGIN = 0.05
_FALLBACK_VALUES = ("200", "500", "ok", "hit", "correct", "error", "x")


@dataclass(frozen=True)
class Case:
    name: str
    segments: tuple[tuple[float, int], ...]  # (burn rate, steps)
    expect: frozenset[str]  # severities that must fire


def _regex_example(pattern: str) -> str:
    text = pattern.split("|")[0].strip("^$")
    text = re.sub(r"\.\*", "", text)
    text = re.sub(r"\.\+", "0", text)
    text = re.sub(r"\[(.)[^\]]*\]", r"\1", text)
    text = re.sub(r"\\(.)", r"\1", text)
    return text.replace(".", "0")


def _candidates(selectors: list[Selector], label: str) -> list[str]:
    found = []
    for sel in selectors:
        for m in sel.matchers:
            if m.label == label:
                found.append(m.value if m.op == "=" else _regex_example(m.value))
    return [c for c in found + list(_FALLBACK_VALUES) if c]


def _pick(label: str, need: list[Selector], avoid: Selector | None = None) -> str | None:
    for value in _candidates(need + ([avoid] if avoid else []), label):
        ok = all(matches(m, value) for s in need for m in s.matchers if m.label == label)
        if ok and (avoid is None or not all(matches(m, value)
                                            for m in avoid.matchers if m.label == label)):
            return value
    return None


def _labels_for(selectors: list[Selector], where: str) -> dict[str, str]:
    labels = {}
    for label in sorted({m.label for s in selectors for m in s.matchers}):
        value = _pick(label, selectors)
        if value is None:
            raise ValidationError(f"{where}: cannot find a value of label {label!r} that "
                                  f"matches {' and '.join(s.text() for s in selectors)}")
        labels[label] = value
    return labels


def _series_text(metric: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}" if inner else metric


def example_series(slo: SLO) -> list[tuple[str, str]]:
    """(series, role) pairs; role ``part`` counts bad (or good) events, ``rest`` the others,
    ``total`` all events when the total is a different metric."""
    ind = slo.indicator
    part = ind.bad or ind.good
    where = f"{slo.source}: slo {slo.name!r}"
    if part.metric != ind.total.metric:
        return [(_series_text(part.metric, _labels_for([part], where)), "part"),
                (_series_text(ind.total.metric, _labels_for([ind.total], where)), "total")]
    both = _labels_for([part, ind.total], where)
    rest = dict(_labels_for([ind.total], where))
    for label in sorted({m.label for m in part.matchers}):
        value = _pick(label, [ind.total], avoid=part)
        if value is not None:
            rest[label] = value
            break
    else:
        raise ValidationError(f"{where}: no series matches {ind.total.text()} without also "
                              f"matching {part.text()}")
    return [(_series_text(part.metric, both), "part"), (_series_text(part.metric, rest), "rest")]


def _increments(slo: SLO, case: Case) -> list[tuple[float, float, int]]:
    """Per segment: (bad increase per step, total increase per step, steps)."""
    out = []
    for burn, steps in case.segments:
        ratio = burn * slo.error_budget
        if ratio > 1:
            raise ValidationError(f"{slo.source}: slo {slo.name!r}: test {case.name!r} needs "
                                  f"an error ratio of {ratio:.3g}, above 1; lower the "
                                  f"objective's budget or the catalog's factors")
        out.append((round(ratio * TRAFFIC_PER_STEP, 6), TRAFFIC_PER_STEP, steps))
    return out


def simulate(slo: SLO, catalog: Catalog, case: Case, step_s: float) -> frozenset[str]:
    """Severities firing at the end of ``case``, computed as Prometheus 2.x would."""
    bad, total = [0.0], [0.0]
    for b, t, steps in _increments(slo, case):
        for _ in range(steps):
            bad.append(bad[-1] + b)
            total.append(total[-1] + t)
    now = len(bad) - 1
    firing = set()
    for alert in catalog.alerts:
        threshold = alert.factor * slo.error_budget
        above = []
        for window in (alert.short_s, alert.long_s):
            start = max(0, now - round(window / step_s))
            ratio = (bad[now] - bad[start]) / (total[now] - total[start])
            if abs(ratio - threshold) <= MARGIN * threshold:
                raise ValidationError(f"{slo.source}: slo {slo.name!r}: test {case.name!r} is "
                                      f"within {MARGIN:.0%} of a threshold; cannot generate")
            above.append(ratio > threshold)
        if all(above):
            firing.add(alert.severity)
    return frozenset(s for s in firing if s in slo.severities)


def _values(increments: list[float], steps: list[int]) -> str:
    parts, value, first = [], 0.0, True
    for inc, n in zip(increments, steps, strict=True):
        start = value if first else value + inc
        count = n if first else n - 1
        parts.append(f"{format_number(round(start, 6))}+{format_number(inc)}x{count}")
        value = start + inc * count
        first = False
    return " ".join(parts)


def build_cases(slo: SLO, catalog: Catalog, step_s: float) -> list[Case]:
    """Short cases, so promtool runs them in seconds: steady burn from the first sample
    for as long as the fastest page's long window (windows longer than the data see the
    same ratio, so each alert's verdict is already final)."""
    span = round(min(a.long_s for a in catalog.alerts) / step_s)
    pages = [a for a in catalog.alerts if a.severity == "page"]
    tickets = [a for a in catalog.alerts if a.severity == "ticket"]
    cases = []
    if pages and "page" in slo.severities:
        top = max(pages, key=lambda a: a.factor)
        burn = min(1.2 * top.factor, 1 / slo.error_budget)
        # A burn this fast also spends the ticket windows' share: tickets may fire too.
        cases.append(Case("must page", ((burn, max(span, round(top.long_s / step_s))),),
                          frozenset({"page"})))
    if tickets and "ticket" in slo.severities:
        low = min(a.factor for a in tickets)
        high = min((a.factor for a in pages), default=4 * low)
        cases.append(Case("must ticket", ((math.sqrt(low * high), span),),
                          frozenset({"ticket"})))
    low = min(a.factor for a in catalog.alerts)
    cases.append(Case("must stay quiet", ((0.5 * low, span),), frozenset()))
    return cases


def build_tests(slo: SLO, catalog: Catalog, runbook_base: str) -> list[dict]:
    step_s = catalog.windows()[0] / 5
    interval = format_duration(step_s)
    alert = slo.alert
    series = example_series(slo)
    tests = []
    for case in build_cases(slo, catalog, step_s):
        fired = simulate(slo, catalog, case, step_s)
        if not case.expect <= fired or (fired - case.expect and case.expect != {"page"}):
            raise ValidationError(
                f"{slo.source}: slo {slo.name!r}: test {case.name!r} would fire "
                f"{sorted(fired) or 'nothing'} with catalog {catalog.name!r}")
        incs = _increments(slo, case)
        steps = [n for _, _, n in incs]
        input_series = []
        for text, role in series:
            if role == "part" and slo.indicator.bad is not None:
                per = [b for b, _, _ in incs]
            elif role == "part" or (role == "rest" and slo.indicator.bad is not None):
                per = [t - b for b, t, _ in incs]
            elif role == "rest":
                per = [b for b, _, _ in incs]
            else:
                per = [t for _, t, _ in incs]
            input_series.append({"series": text, "values": _values(per, steps)})
        exp_alerts = [
            {"exp_labels": {**slo_labels(slo), **alert_labels(slo, severity)},
             "exp_annotations": alert_annotations(slo, severity, catalog, runbook_base)}
            for severity in slo.severities if severity in fired
        ]
        tests.append({
            "name": f"{slo.id}: {case.name}",
            "interval": interval,
            "input_series": input_series,
            "alert_rule_test": [{"eval_time": format_duration(step_s * sum(steps)),
                                 "alertname": alert, "exp_alerts": exp_alerts}],
        })
    tests.append(zero_traffic_test(slo, catalog, series, step_s))
    return tests


def zero_traffic_test(slo: SLO, catalog: Catalog, series: list[tuple[str, str]],
                      step_s: float) -> dict:
    """No requests: no error-ratio sample (not NaN) and no alert."""
    steps = round(min(a.long_s for a in catalog.alerts) / step_s)
    eval_time = format_duration(step_s * steps)
    shortest = names.sli_error_record(format_duration(catalog.windows()[0]))
    return {
        "name": f"{slo.id}: zero traffic records nothing and stays quiet",
        "interval": format_duration(step_s),
        "input_series": [{"series": text, "values": f"0+0x{steps}"} for text, _ in series],
        "alert_rule_test": [{"eval_time": eval_time, "alertname": slo.alert, "exp_alerts": []}],
        "promql_expr_test": [{"expr": f"{shortest}{{{names.LABEL_ID}=\"{slo.id}\"}}",
                              "eval_time": eval_time, "exp_samples": []}],
    }
