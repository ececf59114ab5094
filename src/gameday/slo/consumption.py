"""Error budget consumed: the one arithmetic behind every budget figure gameday shows.

The live panel, ``gameday slo status``, ``gameday slo budget``, score.json, the report and
the postmortem draft all take "budget consumed" from ``BudgetUse`` and print it with
``format_consumed``, so they cannot disagree.

Events, not samples: over a span of time [start, end] the SLI's bad and total events are
counted from its counters (``sum(increase(<selector>[span]))`` in either engine; bad =
total - good for a good/total SLI), and

    consumed = bad / (error budget x total x period / span)

that is, the share of the period's error budget those bad events used if the whole period
carried traffic at the span's rate (with ``objective`` 99.9%, 1 bad event in 1000 over the
whole period spends the whole budget). Over a span shorter than the period this is "the
budget of the (compressed) period consumed during the span", never an extrapolation of a
few seconds of error ratio to the period. No traffic in the span: nothing consumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .model import SLO, Indicator


@dataclass(frozen=True)
class BudgetUse:
    slo_id: str
    objective: float  # 0..1
    period_s: float  # the SLO period the budget is for (the catalog's: 12h in drills)
    span_s: float  # seconds of data the events were counted over
    bad: float  # bad events in the span
    total: float  # all events in the span

    @property
    def budget(self) -> float:
        return round(1.0 - self.objective, 12)

    @property
    def error_ratio(self) -> float:
        return self.bad / self.total if self.total > 0 else math.nan

    @property
    def consumed(self) -> float:
        """Fraction of the period's error budget used in the span (may exceed 1)."""
        if not self.total > 0:
            return 0.0
        if not (self.budget > 0 and self.period_s > 0 and self.span_s > 0):
            return math.nan
        return self.bad / (self.budget * self.total) * (self.span_s / self.period_s)

    @property
    def burn(self) -> float:
        """Average burn rate over the span (error ratio / budget)."""
        return self.error_ratio / self.budget if self.budget > 0 else math.nan

    def as_dict(self) -> dict:
        body = {"slo_id": self.slo_id, "objective": self.objective, "period_s": self.period_s,
                "span_s": self.span_s, "bad": self.bad, "total": self.total,
                "error_ratio": self.error_ratio, "burn": self.burn,
                "consumed": self.consumed, "consumed_text": format_consumed(self.consumed)}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in body.items()}


def format_consumed(value: float | None) -> str:
    """How every surface prints budget consumed: ``1.23%`` (never ``-0.00%``)."""
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    text = f"{100 * value:.2f}%"
    return "0.00%" if text == "-0.00%" else text


def events_text(events: dict | None) -> str:
    """``3 / 1,234`` from score.json's ``events`` (bad and total in the drill window)."""
    if not isinstance(events, dict):
        return "-"
    bad, total = events.get("bad"), events.get("total")
    if not isinstance(bad, int | float) or not isinstance(total, int | float):
        return "-"
    return f"{round(bad):,} / {round(total):,}"


# -- counting events in an engine ------------------------------------------------------------
def _duration(span_s: float) -> str:
    return f"{max(1, int(round(span_s * 1000)))}ms"


def event_queries(indicator: Indicator, span_s: float) -> tuple[str, str | None, str | None]:
    """PromQL for (total, bad, good) events over ``span_s`` ending at the query time."""
    def inc(sel) -> str | None:
        return None if sel is None else f"sum(increase({sel.text()}[{_duration(span_s)}]))"

    return inc(indicator.total), inc(indicator.bad), inc(indicator.good)


def _scalar(engine, expr: str, at: float) -> float:
    found = [v for _, v in engine.query(expr, at)]
    return float(found[0]) if found and not math.isnan(found[0]) else 0.0


def count_events(engine, slo: SLO, start: float, end: float) -> tuple[float, float]:
    """(bad, total) events of the SLO's indicator in (start, end], read through ``engine``
    (anything with ``query(expr, at)``: either engine, or the query API of one)."""
    span = max(end - start, 0.0)
    if span <= 0:
        return 0.0, 0.0
    q_total, q_bad, q_good = event_queries(slo.indicator, span)
    total = _scalar(engine, q_total, end)
    if q_bad is not None:
        bad = _scalar(engine, q_bad, end)
    else:
        bad = total - _scalar(engine, q_good, end)
    # increase() extrapolates each series on its own; a good/total pair can round a hair
    # below zero when nothing failed, and bad can never exceed total.
    bad = min(max(bad, 0.0), total) if total > 0 else max(bad, 0.0)
    if abs(bad) < 1e-9 * max(total, 1.0):
        bad = 0.0
    return bad, total


def measure(engine, slos: list[SLO], start: float, end: float,
            period_s: dict[str, float] | float) -> dict[str, BudgetUse]:
    """Budget use of each SLO over (start, end]; ``period_s`` per SLO id or for all."""
    out = {}
    for slo in slos:
        period = period_s.get(slo.id, math.nan) if isinstance(period_s, dict) else period_s
        bad, total = count_events(engine, slo, start, end)
        out[slo.id] = BudgetUse(slo.id, slo.target, float(period), max(end - start, 0.0),
                                bad, total)
    return out


# -- where the specs are -----------------------------------------------------------------------
def specs_for_rules(rule_files: list[Path]) -> Path | None:
    """The spec folder the generated rules came from (``<specs>/_gen/<catalog>/*.rules.yml``)."""
    for f in rule_files:
        folder = Path(f).resolve().parent.parent.parent
        if any(folder.glob("*.yaml")):
            return folder
    return None


def load_slos_for_rules(rule_files: list[Path]) -> list[SLO]:
    """The valid SLOs of the specs behind ``rule_files`` (none when they cannot be found)."""
    from .validate import collect_slos

    folder = specs_for_rules(rule_files)
    if folder is None:
        return []
    slos, _ = collect_slos([folder])
    return slos
