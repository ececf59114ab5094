"""The bench scripts still import, and their pure parts (statistics, ratios, tables) work.

No servers, no load: each bench's own numbers come from `make bench` (bench/README.md).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
NAMES = ["benchlib", "run", "bench_middleware", "bench_http_overhead", "bench_batching",
         "bench_overload", "bench_footprint", "bench_slo_eval", "bench_stack_startup",
         "bench_drill", "bench_quiet_drills", "bench_engine_agreement", "bench_store_memory",
         "bench_backtest", "loadgen", "overload_report"]


def load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", NAMES)
def test_every_bench_module_imports(name):
    assert load(name) is not None


def test_every_bench_script_is_listed_here():
    scripts = {p.stem for p in BENCH.glob("bench_*.py")}
    assert scripts <= set(NAMES)
    assert {p.stem for p in load("run").benches()} == scripts


def test_statistics_and_formatting():
    bl = load("benchlib")
    assert bl.percentile([1, 2, 3, 4, 5], 50) == 3
    assert bl.percentile([1, 2], 50) == 1.5
    assert bl.percentile([7], 99) == 7
    assert math.isnan(bl.percentile([], 50))
    s = bl.latency_summary([0.001, 0.002, 0.003])
    assert s["n"] == 3 and s["p50_ms"] == pytest.approx(2.0)
    assert bl.ratio(3, 2) == 1.5 and math.isnan(bl.ratio(1, 0))
    assert bl.loss(90, 100) == pytest.approx(0.10)
    assert bl.pct(0.123) == "12.3%" and bl.pct(float("nan")) == "n/a"
    assert bl.fmt(1.234) == "1.2" and bl.fmt(3) == "3" and bl.fmt(None) == "n/a"
    assert bl.verdict(True) == "met" and bl.verdict(False) == "MISSED"
    assert bl.rotated([1, 2, 3], 1) == [2, 3, 1] and bl.rotated([1, 2, 3], 3) == [1, 2, 3]
    table = bl.markdown_table(["a", "b"], [["x", 1.25], ["y", float("nan")]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x | 1.2 |", "| y | n/a |"]


def test_wrk_script_and_parse():
    bl = load("benchlib")
    script = bl.wrk_script("POST", '{"a": 1}')
    assert 'wrk.method = "POST"' in script and "WRKJSON" in script
    raw = {"requests": 1000, "duration_us": 2_000_000, "connect": 0, "read": 1, "write": 0,
           "status": 100, "timeout": 2, "p50_us": 1500, "p90_us": 3000, "p99_us": 9000,
           "max_us": 20000}
    parsed = bl.parse_wrk("Running 2s test\n...\nWRKJSON " + json.dumps(raw) + "\n")
    assert parsed["rps"] == pytest.approx(450.0)
    assert parsed["non_2xx"] == 100 and parsed["socket_errors"] == 3
    assert parsed["p99_ms"] == pytest.approx(9.0)
    with pytest.raises(ValueError):
        bl.parse_wrk("no summary")


def test_http_overhead_summary():
    m = load("bench_http_overhead")
    rps = {"bare": [1000.0, 1010.0, 990.0], "faults": [980.0, 990.0, 985.0],
           "gameday": [950.0, 940.0, 960.0],
           "instrumentator": [700.0, 720.0, 710.0]}
    s = m.summarize(rps, 0.10)
    assert s["loss"]["bare"] == 0
    assert s["loss"]["gameday"] == pytest.approx(0.05)
    assert s["target_loss_met"] and s["beats_instrumentator"]
    assert s["loss_quartiles"]["gameday"] == pytest.approx([0.0402, 0.0597], abs=1e-4)
    assert "| gameday | 950.0 | 5.0% | 4.0% to 6.0% | n/a | n/a |" in m.table("trivial", s, rps)
    s["cpu_us_per_request"] = {"bare": 100.0, "gameday": 110.0}
    assert "| gameday | 950.0 | 5.0% | 4.0% to 6.0% | 110.0 | 1.10 |" in m.table("trivial", s, rps)
    assert not m.summarize(rps, 0.02)["target_loss_met"]


def test_batching_summary():
    m = load("bench_batching")
    run = {"rps": 100.0, "p50_ms": 600.0, "p99_ms": 700.0, "non_2xx": 0}
    fast = {"rps": 500.0, "p50_ms": 100.0, "p99_ms": 200.0, "non_2xx": 0}
    res = {"runs": {"batch=1": [run], "default": [fast]}}
    res.update(m.summarize(res["runs"]))
    assert res["throughput_ratio"] == pytest.approx(5.0) and res["met"]
    assert "met" in m.report(res)
    res.update(m.summarize({"batch=1": [run], "default": [{**fast, "p99_ms": 800.0}]}))
    assert not res["met"]


def test_footprint_summary():
    m = load("bench_footprint")
    mib = 1024 ** 2
    s = m.summarize_samples([{"rss": 300 * mib, "pss": 200 * mib},
                             {"rss": 400 * mib, "pss": 250 * mib}])
    assert s["rss_max_mib"] == 400 and s["pss_median_mib"] == 225
    assert m.verdicts(4.0, 400) == {"up_met": True, "rss_met": True}
    assert m.verdicts(6.0, 2000) == {"up_met": False, "rss_met": False}
    rnd = {"up_s": 4.0, "supervisor_ready_s": 3.0, "idle": {"rss_mib": 350.0},
           "load": s, "peak_per_process_mib": {"gameday_services.gateway [1]": 60.0}}
    assert "gameday_services.gateway 60" in m.report([rnd], [2.0])
    assert m.load_line({"total": {"rps": 12.34, "failures": 0, "p99_ms": 80.0}}) == \
        "12.3 req/s, 0 failures, p99 80.0 ms"
    assert m.load_line({}) == "no stats"


def test_slo_eval_curve_helpers(tmp_path):
    m = load("bench_slo_eval")
    text = ('- name: g-x\n  rules:\n  - record: r\n    expr: sum(a{sloth_id="x-y"})\n'
            '    labels:\n      sloth_id: x-y\n')
    copy = m.copy_rules(text, 2)
    assert 'sloth_id="x-y-copy2"' in copy and "sloth_id: x-y-copy2" in copy
    assert "- name: g-x-copy2" in copy and m.copy_rules(text, 0) == text
    sample = m.Sample("up", (("replica", "0"),), 1.0)
    scaled = m.replicate_scrapes([("job", "host:1", [sample])], 3)
    assert [inst for _, inst, _ in scaled] == ["host:1", "host:1#1", "host:1#2"]
    assert len({s.labels for _, _, ss in scaled for s in ss}) == 3
    assert m.load_scrapes(m.dump_scrapes(scaled))[1][2][0] == scaled[1][2][0]
    points = [{"series_factor": f, "slo_copies": c, "series": 10 * f, "rules": 5 * c,
               "tick_median_ms": 1.0 * f * c, "tick_max_ms": 2.0, "ingest_ms_per_s": 0.5,
               "store_mib": 1.0 * f, "rss_after_ticks_mib": 50.0 + f, "catalog": "drill-12h",
               "history_s": 60} for f, c in ((1, 1), (2, 1), (1, 2))]
    assert m.growth(points, "tick_median_ms", "slo_copies") == [(1, 1.0), (2, 2.0)]
    assert "2x series, 1x SLOs" in m.curve_table(points)
    assert m.chart(points, tmp_path / "curve.png").stat().st_size > 0


def test_drill_phases():
    m = load("bench_drill")
    events = [{"kind": "run_start", "ts": 10.0}, {"kind": "fault_start", "ts": 20.0},
              {"kind": "page", "ts": 21.0}, {"kind": "mitigation", "ts": 25.0},
              {"kind": "recovered", "ts": 55.0}, {"kind": "run_end", "ts": 60.0}]
    ph = dict(m.phases(events, 5.0, 70.0))
    assert ph["stack start (launch to run_start)"] == 5.0
    assert ph["mitigation to recovery"] == 30.0 and ph["outputs (run_end to exit)"] == 10.0
    assert dict(m.phases(events[:1], 5.0, 70.0))["fault to page (detection)"] is None
    text = m.report([{"wall_s": 65.0, "returncode": 0, "drill_verdict": "pass",
                      "phases": m.phases(events, 5.0, 70.0)}])
    assert "ratio to the 180 s target 0.36: met" in text


def test_http_overhead_cheaper_weighs_cpu_and_throughput():
    m = load("bench_http_overhead")
    s = {"loss": {"gameday": -0.007, "instrumentator": -0.008}, "beats_instrumentator": False,
         "cpu_ratio": {"gameday": 1.09, "instrumentator": 1.20}}
    assert m.cheaper(s)  # throughput tied (accelerator-bound), CPU lower
    assert not m.cheaper({**s, "cpu_ratio": {"gameday": 1.25, "instrumentator": 1.20}})
    assert not m.cheaper({**s, "loss": {"gameday": 0.10, "instrumentator": 0.02}})


def test_http_overhead_spin_layer_passes_requests_through():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    m = load("bench_http_overhead")
    assert m.spin(10) == 45 and m.spin_us(50) > 0
    app = FastAPI()
    m.add_spin_layer(app, 100)

    @app.get("/v1/items/{item_id}")
    async def item(item_id: int) -> dict:
        return {"item_id": item_id}

    with TestClient(app) as client:
        assert client.get("/v1/items/3").json() == {"item_id": 3}


def test_overload_settle_says_when_the_gateway_does_not_come_back():
    import socket

    m = load("bench_overload")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    assert m.settle(f"http://127.0.0.1:{port}", "token", 0, give_up_s=0.5) is False


def test_quiet_drills_judges_alerts_before_and_after_the_fault():
    m = load("bench_quiet_drills")
    expected = ["GatewayAvailabilityBudgetBurn"]
    events = [{"ts": 10.0, "kind": "run_start"},
              {"ts": 20.0, "kind": "alert_firing", "alert": "ClassifierPredictionQualityBudgetBurn",
               "severity": "ticket"},
              {"ts": 30.0, "kind": "fault_start"},
              {"ts": 31.0, "kind": "alert_firing", "alert": "GatewayClassifyLatencyBudgetBurn",
               "severity": "page"},
              {"ts": 34.5, "kind": "alert_firing", "alert": "GatewayAvailabilityBudgetBurn",
               "severity": "page"}]
    got = m.judge(events, expected)
    assert got == {"fault_injected": True, "alerts_before_fault": 1,
                   "before": ["ClassifierPredictionQualityBudgetBurn (ticket) -10.0 s"],
                   "expected_fired": True, "detect_s": 4.5,
                   "other_alerts_after": ["GatewayClassifyLatencyBudgetBurn"]}
    # no fault: every alert came before it, and nothing was detected
    dirty = m.judge(events[:2], expected)
    assert (dirty["fault_injected"], dirty["alerts_before_fault"], dirty["expected_fired"]) == \
        (False, 1, False)
    text = m.report([{"scenario": "x", "wall_s": 60.0, **got}])
    assert "1 alert(s) before a fault in 1 drill(s) (target 0: MISSED)" in text


def test_engine_agreement_families_and_report():
    from gameday.engine.agreement import Point

    m = load("bench_engine_agreement")
    points = [Point("slo:sli_error:ratio_rate5s", (), 1.0, 0.0, 0.0, 0.1),
              Point("slo:sli_error:ratio_rate5s", (), 2.0, 0.10, 0.12, 0.1),
              Point("slo:sli_error:ratio_rate5s", (), 3.0, 0.20, 0.21, 0.1),
              Point("slo:objective:ratio", (), 1.0, 0.999, 0.999, 1e-9)]
    fam = m.families(points)
    ratio = fam["slo:sli_error:ratio_rate5s"]
    assert (ratio["pairs"], ratio["nonzero"], ratio["outside"]) == (3, 2, 0)
    assert ratio["median_abs"] == pytest.approx(0.015) and ratio["worst_rel"] == \
        pytest.approx(0.02 / 0.12)
    counts = {"prometheus_rule_group_iterations_total": 300.0,
              "prometheus_rule_group_iterations_missed_total": 2.0,
              "prometheus_rule_evaluation_failures_total": 0.0,
              "gameday_rule_group_iterations_late_total": 0.0}
    text = m.report({"families": fam, "pairs": 4, "only_prometheus": 1, "only_embedded": 0,
                     "prometheus": counts, "embedded": {**counts, "gameday_rule_group_"
                                                        "iterations_late_total": 5.0},
                     "evaluation": {"max_lag_s": 1.5, "scrape_ticks_missed": 0},
                     "requests": 100, "duration_s": 60, "window_s": 50, "compare_s": 1.0})
    assert "| sli_error:ratio_rate5s | 3 | 2 | 0.015 | 0.02 | 10.7% | 16.7% | 0.1 | 0 |" in text
    assert "prometheus: 300 iterations, 2 missed" in text and "5 late (caught up)" in text
