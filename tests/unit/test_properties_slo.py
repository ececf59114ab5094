"""Properties of the SLO math (hypothesis): burn rate, error budget, window scaling.

Definitions checked, for any objective and traffic:
- burn rate = error ratio / (1 - objective): zero without errors, 1 exactly at the budget,
  monotone in the error ratio;
- budget consumed = sum of burn x interval / period: a burn of 1 for the whole period
  spends exactly the whole budget; time to exhaustion at burn b spends what is left;
- a window catalog compressed by k (period and windows divided by k) keeps every budget
  fraction and burn-rate factor, and a policy step reads the window scaled by the same k.
The example tests of these modules (test_slo_windows, test_slo_budget, test_slo_backtest)
check the shipped catalogs and policy; these hold for any catalog and objective.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gameday.engine.promql import evaluate
from gameday.engine.ruleeval import Rule, RuleGroup, evaluate_groups
from gameday.engine.store import SampleStore
from gameday.slo import names
from gameday.slo.backtest import consumed, find_incidents
from gameday.slo.budget import Policy, Step, evaluate_policy, scaled_burn
from gameday.slo.model import SLO, Indicator, Selector
from gameday.slo.names import format_duration, parse_duration
from gameday.slo.rules import build_meta_recording_rules, slo_labels
from gameday.slo.status import SLOStatus, collect_status, window_seconds
from gameday.slo.windows import validate_catalog

DAY = 86400
SLO_PERIOD = 30 * DAY
ID = {"sloth_id": "svc-avail", "sloth_service": "svc", "sloth_slo": "avail"}

objectives = st.floats(min_value=0.5, max_value=0.99999)
ratios = st.floats(min_value=0.0, max_value=1.0)
burns = st.floats(min_value=0.0, max_value=1000.0)


def close(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


# -- burn rate, as `gameday slo status` derives it from the recorded error ratios ------------
class RecordedSeries:
    """An engine holding only what the generated recording rules record for one SLO."""

    def __init__(self, objective: float, error_ratios: dict[str, float], days: float) -> None:
        self.values = {"sloth_slo_info": 1.0, "slo:objective:ratio": objective,
                       "slo:time_period:days": days}
        self.error_ratios = error_ratios

    def query(self, expr: str, at=None):
        if expr.startswith("{__name__=~"):
            return [({**ID, "__name__": f"slo:sli_error:ratio_rate{w}"}, r)
                    for w, r in self.error_ratios.items()]
        return [(dict(ID), self.values[expr])] if expr in self.values else []

    def alerts(self):
        return []


def status_for(objective: float, error_ratios: dict[str, float]) -> SLOStatus:
    [status] = collect_status(RecordedSeries(objective, error_ratios, 30.0))
    return status


@given(objectives, ratios)
def test_burn_is_the_error_ratio_over_the_budget(objective, ratio):
    st_ = status_for(objective, {"5m": ratio, "1h": ratio})
    budget = 1 - objective
    assert close(st_.burn_by_window["5m"], ratio / budget)
    assert close(st_.sli, 1 - ratio)
    assert st_.burn_by_window["5m"] >= 0


@given(objectives)
def test_burn_is_zero_without_errors_and_one_at_the_budget(objective):
    st_ = status_for(objective, {"5m": 0.0, "1h": 1 - objective})
    assert st_.burn_by_window["5m"] == 0.0
    assert close(st_.burn_by_window["1h"], 1.0)


@given(objectives, ratios, ratios)
def test_burn_is_monotone_in_the_error_ratio(objective, a, b):
    low, high = sorted((a, b))
    st_ = status_for(objective, {"5m": low, "1h": high})
    assert st_.burn_by_window["5m"] <= st_.burn_by_window["1h"]


@given(ratios, objectives, objectives)
def test_a_stricter_objective_burns_faster(ratio, a, b):
    loose, strict = sorted((a, b))
    assume(loose < strict)
    burn_loose = status_for(loose, {"5m": ratio})
    burn_strict = status_for(strict, {"5m": ratio})
    assert burn_loose.burn_by_window["5m"] <= burn_strict.burn_by_window["5m"]


@given(st.lists(st.sampled_from(["5s", "30s", "1m", "5m", "30m", "1h", "6h", "1d", "3d"]),
                min_size=1, max_size=6, unique=True), objectives, ratios)
def test_windows_are_reported_shortest_first_and_sli_reads_the_shortest(windows, objective,
                                                                        ratio):
    ratios_by_window = {w: ratio * (i + 1) / len(windows) for i, w in enumerate(windows)}
    st_ = status_for(objective, ratios_by_window)
    ordered = list(st_.burn_by_window)
    assert ordered == sorted(windows, key=window_seconds)
    assert close(st_.sli, 1 - ratios_by_window[ordered[0]])


# -- budget consumed and time to exhaustion --------------------------------------------------
periods = st.sampled_from([12 * 3600.0, 7 * DAY, 28 * DAY, 30 * DAY])


@given(objectives, periods, st.integers(min_value=1, max_value=2000))
def test_a_burn_of_one_for_the_whole_period_spends_exactly_the_budget(objective, period, n):
    budget = round(1 - objective, 12)
    interval = period / n
    samples = [(i * interval, budget) for i in range(n)]
    assert close(consumed(samples, budget, period, interval), 1.0, rel=1e-6)


@given(objectives, periods, st.integers(min_value=1, max_value=500), burns)
def test_budget_consumed_is_burn_times_the_share_of_the_period(objective, period, n, burn):
    budget = 1 - objective
    interval = 1.0
    samples = [(float(i), budget * burn) for i in range(n)]
    assert close(consumed(samples, budget, period, interval), burn * n / period, rel=1e-6)


@given(objectives, st.lists(ratios, min_size=1, max_size=200), st.data())
def test_budget_consumed_is_monotone_and_incidents_never_spend_more(objective, errs, data):
    budget = 1 - objective
    more = [min(1.0, r + data.draw(st.floats(0, 1))) for r in errs]
    samples = list(enumerate(errs))
    worse = list(enumerate(more))
    period = 12 * 3600.0
    total = consumed(samples, budget, period, 1.0)
    assert total <= consumed(worse, budget, period, 1.0) + 1e-12
    incidents = find_incidents(samples, budget, period, 1.0, merge_s=5.0)
    assert sum(i.budget_consumed for i in incidents) <= total + 1e-12
    for inc in incidents:
        assert inc.peak_burn > 1 and inc.start <= inc.end


@given(objectives, st.lists(st.floats(0, 1), min_size=1, max_size=200))
def test_no_incident_while_the_ratio_stays_within_the_budget(objective, shares):
    budget = 1 - objective
    samples = [(float(i), s * budget) for i, s in enumerate(shares)]
    assert find_incidents(samples, budget, 30 * DAY, 1.0, merge_s=60.0) == []


@given(st.floats(min_value=1e-6, max_value=1.0), st.floats(min_value=1e-3, max_value=1e3),
       st.sampled_from([0.5, 7.0, 28.0, 30.0]))
def test_time_to_exhaustion_spends_exactly_what_is_left(left, burn, days):
    status = SLOStatus("a-b", "a", "b", objective=0.999, budget_remaining=left,
                       current_burn=burn, period_days=days)
    seconds = status.exhaustion_s
    assert close(burn * seconds / (days * DAY), left)
    full = SLOStatus("a-b", "a", "b", budget_remaining=1.0, current_burn=1.0, period_days=days)
    assert close(full.exhaustion_s, days * DAY)  # burn 1 from a full budget: one period


@given(st.floats(min_value=0.01, max_value=1.0), burns, burns)
def test_time_to_exhaustion_shrinks_as_the_burn_grows(left, a, b):
    low, high = sorted((a, b))
    slow = SLOStatus("a-b", "a", "b", budget_remaining=left, current_burn=low, period_days=30)
    fast = SLOStatus("a-b", "a", "b", budget_remaining=left, current_burn=high, period_days=30)
    assert fast.exhaustion_s <= slow.exhaustion_s
    if low == 0:
        assert slow.exhaustion_s == math.inf
    spent = SLOStatus("a-b", "a", "b", budget_remaining=-left, current_burn=high + 1,
                      period_days=30)
    assert spent.exhaustion_s == 0.0


@given(burns, st.sampled_from([3600.0, 6 * 3600.0, DAY, 3 * DAY, SLO_PERIOD]),
       st.floats(min_value=0.1, max_value=20))
def test_a_policy_step_spends_burn_times_its_share_of_the_period(burn, window, threshold):
    policy = Policy("prop", (Step("s", window, threshold, "act"),))
    status = SLOStatus("a-b", "a", "b", objective=0.999, period_days=30,
                       burn_by_window={format_duration(window): burn})
    [result] = evaluate_policy(policy, [status])[0].results
    assert result.burn == burn
    assert close(result.budget_spent, burn * window / SLO_PERIOD)
    assert result.triggered == (burn >= threshold)
    if window == SLO_PERIOD and burn == 1.0:
        assert result.budget_spent == 1.0  # a burn of 1 all period: the whole budget


def budget_remaining_by_the_rules(objective: float, period_error_ratio: float) -> float:
    """What the generated meta recording rules record as the budget left, evaluated by the
    embedded engine for one SLO whose period error ratio is ``period_error_ratio``."""
    catalog = validate_catalog(catalog_yaml([{"severity": "page", "budget_fraction": 0.02,
                                              "long_s": 3600, "short_s": 300}], 1), "c.yaml")
    slo = SLO("avail", "svc", "prop.yaml", "d", Indicator(Selector("req_total")),
              objective, SLO_PERIOD)
    store, t = SampleStore(), 1_000_000.0
    store.append({"__name__": names.sli_error_record("30d"), **slo_labels(slo),
                  names.LABEL_WINDOW: "30d"}, t, period_error_ratio)
    group = RuleGroup("meta", 0.0, [Rule(r["record"], r["expr"], "record", 0.0, r["labels"])
                                    for r in build_meta_recording_rules(slo, catalog)])
    evaluate_groups([group], store, t)
    [(_, value)] = evaluate(store, names.PERIOD_BUDGET_REMAINING, t)
    return value


@given(objectives, ratios)
def test_budget_remaining_is_one_minus_the_period_burn(objective, ratio):
    left = budget_remaining_by_the_rules(objective, ratio)
    budget = round(1 - objective, 12)
    assert close(left, 1 - ratio / budget, rel=1e-9)
    assert left <= 1.0
    assert (left > 0) == (ratio < budget) or close(ratio, budget)


@given(objectives, ratios, ratios)
def test_budget_remaining_falls_as_errors_grow(objective, a, b):
    low, high = sorted((a, b))
    assert budget_remaining_by_the_rules(objective, high) <= \
        budget_remaining_by_the_rules(objective, low)


# -- window catalogs and their compression ---------------------------------------------------
# Divisors of 30 days that keep every minute-multiple window a whole number of milliseconds.
SCALES = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120]


@st.composite
def catalogs(draw):
    """A 30-day catalog: 1-4 alerts with budget fractions and long windows in minutes."""
    alerts = []
    for _ in range(draw(st.integers(1, 4))):
        long_min = draw(st.integers(min_value=2, max_value=3 * 24 * 60))
        short_min = draw(st.integers(min_value=1, max_value=long_min - 1))
        alerts.append({"severity": draw(st.sampled_from(["page", "ticket"])),
                       "budget_fraction": draw(st.floats(min_value=0.001, max_value=1.0)),
                       "long_s": long_min * 60, "short_s": short_min * 60})
    return alerts


def catalog_yaml(alerts: list[dict], scale: int) -> dict:
    return {"name": f"x{scale}", "source": "property test", "slo_period": "30d",
            "period": format_duration(SLO_PERIOD / scale),
            "alerts": [{"severity": a["severity"], "budget_fraction": a["budget_fraction"],
                        "long": format_duration(a["long_s"] / scale),
                        "short": format_duration(a["short_s"] / scale)} for a in alerts]}


@given(catalogs())
def test_factor_spends_the_budget_fraction_over_the_long_window(alerts):
    catalog = validate_catalog(catalog_yaml(alerts, 1), "prop.yaml")
    for alert in catalog.alerts:
        # Burning at exactly the factor for the long window spends the alert's fraction.
        assert close(alert.factor * alert.long_s / catalog.period_s, alert.budget_fraction,
                     rel=1e-6)


@given(catalogs(), st.sampled_from(SCALES))
def test_compressed_catalogs_keep_fractions_and_factors(alerts, scale):
    base = validate_catalog(catalog_yaml(alerts, 1), "base.yaml")
    small = validate_catalog(catalog_yaml(alerts, scale), "small.yaml")
    assert small.slo_period_s == base.slo_period_s == SLO_PERIOD
    assert close(small.scale, 1 / scale)
    for b, s in zip(base.alerts, small.alerts, strict=True):
        assert s.severity == b.severity and s.budget_fraction == b.budget_fraction
        assert close(s.factor, b.factor, rel=1e-8)
        assert close(s.long_s * scale, b.long_s) and close(s.short_s * scale, b.short_s)
    assert [w * scale for w in small.windows()] == pytest.approx(base.windows())


@given(catalogs(), st.sampled_from(SCALES), burns, st.data())
def test_policy_steps_read_the_window_scaled_like_the_catalog(alerts, scale, burn, data):
    small = validate_catalog(catalog_yaml(alerts, scale), "small.yaml")
    recorded = data.draw(st.sampled_from(small.windows()))
    status = SLOStatus("a-b", "a", "b", objective=0.999, period_days=small.period_s / DAY,
                       burn_by_window={format_duration(recorded): burn})
    # A step written in 30-day terms reads the compressed window of the same share.
    assert scaled_burn(status, recorded * scale, SLO_PERIOD) == burn
    other = recorded * scale + 60
    assume(all(abs(w * scale - other) > 1e-6 for w in small.windows()))
    assert math.isnan(scaled_burn(status, other, SLO_PERIOD))


@given(st.one_of(st.integers(min_value=1, max_value=10**7).map(float),
                 st.integers(min_value=1, max_value=999).map(lambda ms: ms / 1000)))
def test_durations_read_back_as_written(seconds):
    text = format_duration(seconds)
    assert close(parse_duration(text, "prop"), seconds)
    assert close(window_seconds(text), seconds)
