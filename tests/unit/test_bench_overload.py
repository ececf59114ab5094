"""bench_overload's arithmetic: capacity from the ramp, goodput against capacity, every
round in the report, the issue 20 verdicts, the chart of the adaptive limit."""

from __future__ import annotations

import pytest

from tests.unit.test_bench_smoke import load

ROW = {"goodput": 0.0, "admitted_p99_ms": 100.0, "rps": 1, "shed_429": 0, "fallbacks": 0,
       "errors": 0}
CAPACITY = {"closed": 100.0, "open": 80.0}


def test_summary_counts_good_answers_and_admitted_latency():
    m = load("overload_report")
    results = [(200, 0.1, False, 0.0)] * 8 + [(200, 0.5, False, 0.1), (200, 0.1, True, 0.2),
                                               (429, 0.001, False, 0.3), (0, 5.0, False, 0.4)]
    s = m.summarize(results, 2.0, 0.3)
    assert s["sent"] == 12 and s["ok"] == 9 and s["good"] == 8 and s["goodput"] == 4.0
    assert s["shed_429"] == 1 and s["fallbacks"] == 1 and s["errors"] == 1
    assert s["admitted_p99_ms"] > 4000  # the timeout counts among the admitted
    assert m.summarize([(200, 0.1, False)], 1.0, 0.3)["good"] == 1  # older 3-field results


def test_capacity_is_the_ramp_peak_goodput_within_the_threshold():
    m = load("overload_report")
    ramp = [{"users": 1, "duration_s": 2, "ok": 100, "goodput": 50.0, "ok_p99_ms": 50.0},
            {"users": 2, "duration_s": 2, "ok": 180, "goodput": 88.0, "ok_p99_ms": 250.0},
            {"users": 4, "duration_s": 2, "ok": 200, "goodput": 95.0, "ok_p99_ms": 500.0}]
    assert m.capacity_from_ramp(ramp, 300.0) == 88.0  # not the 95/s of a step over 300 ms
    assert m.capacity_from_ramp(ramp, 10.0) == 95.0  # none within: the peak anyway
    steps = m.knee_steps(ramp)
    assert steps[1] == {"users": 2, "rps": 90.0, "p99_ms": 250.0}
    assert m.tuned_in_flight(steps, 300.0) == 2 and m.tuned_in_flight(steps, 10.0) == 1
    assert m.peak_users(ramp, 300.0) == 2 and m.peak_users(ramp, 10.0) == 4


def test_the_capacity_table_shows_how_far_the_host_drifted_in_each_round():
    m = load("overload_report")
    caps = [{"closed": 900.0, "open": 800.0, "tuned": 64, "closed_end": 810.0},
            {"closed": 1000.0, "open": 900.0, "tuned": 128}]  # a round run before the check
    assert m.drift(caps[0]) == pytest.approx(-0.1)
    table = m.capacity_table(caps).splitlines()
    assert table[2].split("|")[7:9] == [" 810.0 ", " -10% "]
    assert table[3].split("|")[7:9] == [" n/a ", " n/a "]


def rnd(adaptive: dict, tuned: dict | None = None, capacity: dict = CAPACITY) -> dict:
    m = load("overload_report")

    def rows(by_load: dict) -> dict:
        return {n: m.with_capacity({**ROW, "goodput": float(g), "admitted_p99_ms": float(p)},
                                   capacity) for n, (g, p) in by_load.items()}

    out = {"adaptive": rows(adaptive)}
    if tuned:
        out["tuned"] = rows(tuned)
    return out


def test_each_run_carries_its_rounds_capacities_and_both_shares():
    m = load("overload_report")
    r = m.with_capacity({**ROW, "goodput": 72.0}, {"closed": 90.0, "open": 80.0})
    assert (r["capacity"], r["open_capacity"]) == (90.0, 80.0)
    assert r["share"] == pytest.approx(0.8) and r["open_share"] == pytest.approx(0.9)


def test_verdicts_need_every_round_at_2x_and_4x_against_capacity():
    m = load("overload_report")
    good = rnd({1: (80, 50), 2: (95, 150), 4: (92, 200)}, {1: (80, 60), 2: (93, 250),
                                                           4: (90, 280)})
    v = m.verdicts([good, good], threshold_ms=300.0)
    assert v["adaptive"]["met"] and v["adaptive"]["worst_share"] == pytest.approx(0.92)
    assert v["adaptive"]["worst_open_share"] == pytest.approx(0.92 / 0.8)
    assert v["adaptive"]["matches_tuned"] and v["tuned"]["met"]
    # one round at 4x under 90% of capacity fails the target, whatever the median
    bad = rnd({1: (80, 50), 2: (95, 150), 4: (85, 200)}, {1: (80, 60), 2: (93, 250),
                                                          4: (90, 280)})
    v = m.verdicts([good, bad, good], threshold_ms=300.0)
    assert not v["adaptive"]["met"] and v["adaptive"]["worst_share"] == pytest.approx(0.85)
    assert v["adaptive"]["matches_tuned"]  # the median 4x goodput, 92 against 90
    # each round against its own capacity: 85/s in a round whose capacity was 90/s holds
    slower = rnd({2: (95, 150), 4: (85, 200)}, capacity={"closed": 90.0, "open": 80.0})
    v = m.verdicts([good, slower], threshold_ms=300.0)
    assert v["adaptive"]["met"] and v["adaptive"]["worst_share"] == pytest.approx(0.92)
    slow = rnd({2: (95, 150), 4: (95, 350)})
    assert not m.verdicts([slow], 300.0)["adaptive"]["met"]  # p99 over the threshold
    assert "matches_tuned" not in m.verdicts([slow], 300.0)["adaptive"]


def test_report_prints_every_round_shares_of_capacity_and_the_verdicts():
    m = load("overload_report")
    rounds = [rnd({1: (80, 50), 4: (92, 200)}, {1: (80, 60), 4: (95, 280)}),
              rnd({1: (78, 50), 4: (91, 210)}, {1: (79, 60), 4: (96, 290)},
                  capacity={"closed": 95.0, "open": 90.0})]
    rounds[0]["adaptive"][4]["host_loop_ms"] = 21.5
    admission = [{"adaptive": {"max_in_flight": 256, "adaptive_limit": True},
                  "tuned": {"max_in_flight": cap, "adaptive_limit": False}} for cap in (16, 8)]
    capacities = [{**CAPACITY, "tuned": 16}, {"closed": 95.0, "open": 90.0, "tuned": 8}]
    traces = {"adaptive": {"4": [[(0.0, 20.0), (0.25, 14.0)], [(0.0, 18.0), (1.0, None)]]}}
    res = {"capacities": capacities, "threshold_ms": 300.0, "rounds": rounds,
           "admission": admission, "rows": m.median_rows(rounds), "limit_trace": traces,
           "verdicts": m.verdicts(rounds, 300.0)}
    text = m.report(res)
    assert "| 1 | 100.0 | 80.0 | 80% | 16 | 80.0 |" in text  # each round's capacities
    assert "| 2 | 95.0 | 90.0 | 95% | 8 | 76.0 |" in text
    assert ("| 2 | adaptive (<=256) | 4x | 1 | 91.0 | 96% | 101% | 210.0 | 0 | 0 | 0 | 18-18 "
            "| - |") in text
    assert ("| 1 | adaptive (<=256) | 4x | 1 | 92.0 | 92% | 115% | 200.0 | 0 | 0 | 0 | 14-20 "
            "| 21.5 |") in text
    assert "| 1 | tuned (16) | 4x |" in text and "| 2 | tuned (8) | 4x |" in text
    assert "| tuned (8) | 4x | 1.0 | 95.5 |" in text  # the medians
    assert ("adaptive: at 2x and 4x, goodput at least 92% of capacity (101% of the open-loop "
            "capacity)") in text
    assert "adaptive vs tuned at 4x (median goodput): 91.5/s vs 95.5/s: MISSED" in text


def test_latency_over_time_and_the_chart(tmp_path):
    m = load("overload_report")
    results = [(200, 0.05, False, 0.1), (429, 0.001, False, 0.2), (200, 0.2, False, 0.7)]
    assert m.latency_buckets(results) == [(0.0, 50.0), (0.5, 200.0)]
    png = m.chart({"1": [[(0.0, 20.0), (0.5, 18.0)]], "4": [[(0.0, 18.0), (0.5, None)]]},
                  {"1": [[(0.0, 50.0)]], "4": [[]]}, 300.0, tmp_path / "x.png")
    assert png.stat().st_size > 0


def test_admission_modes_and_labels():
    m = load("bench_overload")
    r = load("overload_report")
    modes = m.admission_modes(16, quick=False)
    assert list(modes) == ["off", "default", "tuned", "adaptive"]
    assert modes["adaptive"] == {"max_in_flight": 256, "adaptive_limit": True}
    assert "default" not in m.admission_modes(16, quick=True)
    assert r.mode_label("adaptive", modes["adaptive"]) == "adaptive (<=256)"
    assert r.mode_label("tuned", modes["tuned"]) == "tuned (16)"


def test_what_refusals_cost_bounds_what_goodput_can_keep_past_the_capacity():
    m = load("overload_report")
    # a refusal at a sixteenth of a served answer: 4x (3.2 times the capacity) keeps
    # (1 - 3.2/16) / (1 - 1/16) = 85.3%, 2x (1.6 times) 96%
    assert m.keep_at(3.2, 0.1, 1.6) == pytest.approx(0.8 / 0.9375)
    assert m.keep_at(1.6, 0.1, 1.6) == pytest.approx(0.9 / 0.9375)
    assert m.keep_at(0.8, 0.1, 1.6) == 1.0  # below the capacity nothing is refused
    assert m.keep_at(3.2, 0.5, 1.6) == 0.0  # refusals alone would take all of it
    assert m.keep_at(3.2, 2.0, 1.6) == 0.0
    ramp = [{"users": 64, "good": 2000, "goodput": 1000.0, "ok_p99_ms": 150.0,
             "stack_cpu_s": 3.0, "generator_cpu_s": 0.2},
            {"users": 128, "good": 1900, "goodput": 950.0, "ok_p99_ms": 290.0,
             "stack_cpu_s": 3.1, "generator_cpu_s": 0.2}]
    assert m.served_ms(ramp, 300.0) == pytest.approx(1.6)  # the peak step: 3.2 s / 2000
    assert m.served_ms([{k: v for k, v in ramp[0].items() if "cpu" not in k}], 300.0) is None
    cap = {"closed": 1000.0, "open": 900.0, "tuned": 64, "served_ms": 1.6,
           "refusal": {"gateway_ms": 0.06, "generator_ms": 0.04, "refused": 9000,
                       "answers": 9000, "rate": 3200.0}}
    assert m.refused_ms(cap["refusal"]) == pytest.approx(0.1)
    assert m.estimate(cap, 4) == pytest.approx(m.keep_at(3.2, 0.1, 1.6))
    assert m.estimate({"closed": 1.0}, 4) is None  # a round that did not measure the costs
    row = m.capacity_table([cap]).splitlines()[2].split("|")
    assert [c.strip() for c in row[9:13]] == ["1.600", "0.060", "0.040", "96% / 85%"]


def test_the_report_sets_adaptive_against_each_rounds_cpu_estimate():
    m = load("overload_report")
    rounds = [rnd({2: (93, 150), 4: (80, 200)}), rnd({2: (90, 150), 4: (84, 210)})]
    costs = {"served_ms": 1.6, "refusal": {"gateway_ms": 0.06, "generator_ms": 0.04}}
    capacities = [{**CAPACITY, "tuned": 16, **costs}, {**CAPACITY, "tuned": 16}]
    res = {"capacities": capacities, "threshold_ms": 300.0, "rounds": rounds,
           "admission": [{"adaptive": {"max_in_flight": 256, "adaptive_limit": True}}] * 2,
           "rows": m.median_rows(rounds), "verdicts": m.verdicts(rounds, 300.0)}
    text = m.report(res)
    assert ("against the round's CPU estimate of the most any admission keeps "
            "(bench/refusal_cost.py): 2x 93% of 96%; 4x 80% of 85%") in text
    # the verdict itself stays against the capacity
    assert "goodput at least 80% of capacity" in text and "MISSED" in text
