"""The embedded engine against real Prometheus: ``promtool test rules`` on the same series.

Each scenario feeds input series to the embedded engine, evaluates the rule groups at
every step as Prometheus does, and writes what it got as the expected values of a
promtool unit test (``exp_samples`` for expressions and recorded series, ``exp_alerts``
for firing alerts, ``ALERTS`` queries for pending ones). promtool 2.42 compares sample
values exactly, so a pass means bit-for-bit agreement.
"""

from __future__ import annotations

import math
import re
import subprocess

import pytest
import yaml

from gameday.engine.promql import evaluate
from gameday.engine.ruleeval import FIRING, evaluate_groups, load_rule_file
from gameday.engine.store import SampleStore, load_series
from tests.conftest import require_binary


def _selector(labels) -> str:
    labels = dict(labels)
    name = labels.pop("__name__", "")
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{body}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# Prometheus sums and averages in the order series come out of its head block, which
# differs from run to run, so those results can vary in the last bit between two promtool
# runs; they are checked rounded to 1e-9 of the vector's largest value.
_ORDER_DEPENDENT = re.compile(r"\b(sum|avg)\s*(\(|by|without)")


def _expr_tests(store, expr: str, t: float) -> list[dict]:
    """promtool checks for ``expr`` at ``t``; NaN samples are checked via ``>= bool -Inf``."""
    result = evaluate(store, expr, t)
    if isinstance(result, float):
        return [_expr_test(expr, t, [((), result)])]
    checks = [expr]
    if any(math.isnan(v) for _, v in result):
        checks = [f"({expr}) >= -Inf", f"({expr}) >= bool -Inf"]
    tests = []
    for check in checks:
        values = [abs(v) for _, v in evaluate(store, check, t) if math.isfinite(v) and v]
        if _ORDER_DEPENDENT.search(expr) and values and "bool -Inf" not in check:
            nearest = 10.0 ** (math.floor(math.log10(max(values))) - 9)
            check = f"round({check}, {nearest!r})"
        tests.append(_expr_test(check, t, evaluate(store, check, t)))
    return tests


def _expr_test(expr: str, t: float, result) -> dict:
    samples = [{"labels": _selector(k), "value": v} for k, v in result]
    return {"expr": expr, "eval_time": f"{int(t)}s", "exp_samples": samples}


def run_agreement(tmp_path, *, series, groups, queries=(), alert_names=(),
                  interval: int = 60, end: int = 3600, every: int = 300) -> dict:
    """Evaluate with the embedded engine, then let promtool check every value."""
    promtool = require_binary("promtool")
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [
        {"name": name, "interval": f"{interval}s", "rules": rules} for name, rules in groups
    ]}, sort_keys=False))
    rule_groups = load_rule_file(rules_file)
    store = SampleStore()
    load_series(store, series, step=interval)

    eval_times = list(range(0, end + 1, every))
    alert_tests = []
    for t in range(0, end + 1, interval):
        evaluate_groups(rule_groups, store, t)
        if t in eval_times:
            firing = [a for g in rule_groups for a in g.alerts() if a.state == FIRING]
            for name in alert_names:
                exp = [{"exp_labels": {k: v for k, v in a.labels if k != "alertname"},
                        "exp_annotations": a.annotations} for a in firing if a.name == name]
                alert_tests.append({"eval_time": f"{t}s", "alertname": name,
                                    "exp_alerts": exp})
    expr_tests = []
    for t in eval_times:
        for expr in queries:
            expr_tests.extend(_expr_tests(store, expr, t))
        for name in alert_names:
            expr_tests.extend(_expr_tests(store, f'ALERTS{{alertname="{name}"}}', t))

    test_doc = {
        "rule_files": [rules_file.name],
        "evaluation_interval": f"{interval}s",
        # promtool picks a random group order otherwise (Go map iteration)
        "group_eval_order": [name for name, _ in groups],
        "tests": [{
            "interval": f"{interval}s",
            "input_series": [{"series": s, "values": v} for s, v in series],
            "promql_expr_test": expr_tests,
            "alert_rule_test": alert_tests,
        }],
    }
    proc = _promtool(promtool, tmp_path, test_doc)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return test_doc


def _promtool(promtool: str, tmp_path, test_doc: dict) -> subprocess.CompletedProcess:
    test_file = tmp_path / "test.yml"
    test_file.write_text(yaml.safe_dump(test_doc, sort_keys=False))
    return subprocess.run([promtool, "test", "rules", str(test_file)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


COUNTERS = [
    # steady, with two counter resets
    ('http_requests_total{job="api",instance="a",code="200"}', "0+10x20 3+10x15 0+7x30"),
    # errors with a gap (missing scrapes), then resumed
    ('http_requests_total{job="api",instance="a",code="500"}', "0+1x15 _x8 24+2x20 60+0x19"),
    # late-starting series
    ('http_requests_total{job="api",instance="b",code="200"}', "_x25 0+20x40"),
    ('http_requests_total{job="api",instance="b",code="500"}', "_x25 0+3x10 30+0x29"),
    # zero traffic throughout
    ('http_requests_total{job="idle",instance="c",code="200"}', "0x65"),
    ('http_requests_total{job="idle",instance="c",code="500"}', "0x65"),
    # stops being scraped after 20 minutes, then a stale marker
    ('http_requests_total{job="batch",instance="d",code="200"}', "5+4x20 stale"),
]
GAUGES = [
    ('model_batch_size{service="clf",replica="0"}', "0.1+0.7x30 33.3-1.3x20 _x5 7.77x9"),
    ('model_batch_size{service="clf",replica="1"}', "1e-3+1.1e-2x65"),
    ('model_batch_size{service="clf",replica="2"}', "_x10 3.14159-0.1x55"),
]


def test_rate_increase_and_aggregations_agree(tmp_path):
    doc = run_agreement(tmp_path, series=COUNTERS + GAUGES, groups=[], every=120, queries=[
        "rate(http_requests_total[5m])",
        "increase(http_requests_total[3m])",
        "rate(http_requests_total[1m])",
        "sum by (job) (rate(http_requests_total[5m]))",
        "sum without (instance) (increase(http_requests_total[10m]))",
        "max by (code) (rate(http_requests_total[5m]))",
        "count(http_requests_total)",
        "avg(rate(http_requests_total[2m]))",
        "sum_over_time(http_requests_total[4m])",
        "count_over_time(http_requests_total[7m])",
        "avg_over_time(http_requests_total[5m])",
        "max_over_time(http_requests_total[5m] offset 2m)",
        "http_requests_total offset 10m",
        "sum_over_time(model_batch_size[10m])",
        "avg_over_time(model_batch_size[10m])",
        "min_over_time(model_batch_size[3m])",
        "avg by (service) (model_batch_size)",
        "max without (replica) (model_batch_size)",
        "model_batch_size * 3 - 0.1",
    ])
    assert sum(len(t["exp_samples"]) for t in doc["tests"][0]["promql_expr_test"]) > 300


def test_ratios_comparisons_and_matching_agree(tmp_path):
    series = COUNTERS + [
        ('service_info{job="api",team="serving"}', "1x65"),
        ('service_info{job="idle",team="platform"}', "1x65"),
    ]
    errors = 'sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))'
    total = "sum by (job) (rate(http_requests_total[5m]))"
    run_agreement(tmp_path, series=series, groups=[], every=180, queries=[
        'sum(rate(http_requests_total{code="500"}[5m])) / sum(rate(http_requests_total[5m]))',
        f"{errors} / {total}",
        f"{errors} / {total} > 0.05",
        f"{errors} / {total} > bool 0.05",
        f"({errors} / {total} > 0.02 and {total} > 0.5) or vector(0)",
        f"{total} unless on (job) {errors} > 0",
        f"{errors} / on (job) group_left (team) service_info",
        "rate(http_requests_total[5m]) * on (job) group_left (team) service_info",
        'sum by (instance) (rate(http_requests_total{code!="200"}[5m])) * 100 - 1',
        "2 ^ sum(increase(http_requests_total[1m]) > 0) % 7",
        'http_requests_total{job!~"idle|batch"} / ignoring (code) '
        'group_left sum without (code) (http_requests_total)',
        "-rate(http_requests_total[5m]) / 0",
    ])


BURN_RULES = [
    ("a_sli", [
        {"record": "slo:sli_error:ratio_rate5m",
         "expr": 'sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / '
                 "sum by (job) (rate(http_requests_total[5m]))",
         "labels": {"sloth_window": "5m"}},
        {"record": "slo:sli_error:ratio_rate30m",
         "expr": 'sum by (job) (increase(http_requests_total{code=~"5.."}[30m])) / '
                 "sum by (job) (increase(http_requests_total[30m]))",
         "labels": {"sloth_window": "30m"}},
    ]),
    ("b_alerts", [
        {"alert": "HighErrorBudgetBurn",
         "expr": "(max without (sloth_window) (slo:sli_error:ratio_rate5m) > (14.4 * 0.01)) "
                 "and (max without (sloth_window) (slo:sli_error:ratio_rate30m) > (6 * 0.01))",
         "for": "3m",
         "labels": {"severity": "page", "service": "{{ $labels.job }}"},
         "annotations": {"summary": "{{ $labels.job }} burns its error budget",
                         "description": "error ratio {{ $value }}"}},
    ]),
]


def test_burn_rate_alert_pending_then_firing_agrees(tmp_path):
    series = [
        # 10 req/min, errors burst from minute 12 to minute 30
        ('http_requests_total{job="gw",code="200"}', "0+10x12 120+5x18 210+10x30"),
        ('http_requests_total{job="gw",code="500"}', "0x12 0+5x18 90x30"),
        ('http_requests_total{job="quiet",code="200"}', "0+10x60"),
    ]
    doc = run_agreement(
        tmp_path, series=series, groups=BURN_RULES, end=3000, every=60,
        alert_names=["HighErrorBudgetBurn"],
        queries=["slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m"])
    tests = doc["tests"][0]
    states = [(t["eval_time"], t["exp_samples"][0]["labels"])
              for t in tests["promql_expr_test"]
              if t["expr"].startswith("ALERTS") and t["exp_samples"]]
    assert any('alertstate="pending"' in labels for _, labels in states)
    fired = [t for t in tests["alert_rule_test"] if t["exp_alerts"]]
    assert fired and fired[0]["exp_alerts"][0]["exp_labels"]["service"] == "gw"
    assert not tests["alert_rule_test"][-1]["exp_alerts"]  # resolved by the end


@pytest.mark.parametrize("for_", ["0s", "2m"])
def test_simple_threshold_alert_agrees(tmp_path, for_):
    rules = [("g", [{"alert": "QueueDeep", "expr": "model_queue_depth > 5", "for": for_,
                     "labels": {"severity": "ticket"}}])]
    series = [('model_queue_depth{service="llm"}', "0x5 8x6 2x3 9x10 _x3 1x10"),
              ('model_queue_depth{service="clf"}', "6x40")]
    run_agreement(tmp_path, series=series, groups=rules, end=2400, every=60,
                  alert_names=["QueueDeep"], queries=["model_queue_depth"])


def test_promtool_rejects_a_value_one_ulp_off(tmp_path):
    """The harness is not vacuous: promtool compares what we wrote, to the bit."""
    doc = run_agreement(tmp_path, series=COUNTERS, groups=[], every=600,
                        queries=["rate(http_requests_total[5m])"])
    sample = next(s for t in doc["tests"][0]["promql_expr_test"] for s in t["exp_samples"]
                  if s["value"] > 0)
    sample["value"] = math.nextafter(sample["value"], math.inf)
    proc = _promtool(require_binary("promtool"), tmp_path, doc)
    assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr


HISTOGRAM = [
    ('req_seconds_bucket{job="api",le="0.1"}', "0+5x30 150+1x30"),
    ('req_seconds_bucket{job="api",le="0.3"}', "0+8x30 240+6x30"),
    ('req_seconds_bucket{job="api",le="1"}', "0+9x30 270+9x30"),
    ('req_seconds_bucket{job="api",le="+Inf"}', "0+10x30 300+10x30"),
    # a second histogram with every observation beyond the last finite bucket
    ('req_seconds_bucket{job="slow",le="0.1"}', "0x60"),
    ('req_seconds_bucket{job="slow",le="+Inf"}', "0+4x60"),
]


def test_histogram_quantile_agrees(tmp_path):
    run_agreement(tmp_path, series=HISTOGRAM, groups=[], every=300, queries=[
        "histogram_quantile(0.5, sum by (job, le) (rate(req_seconds_bucket[5m])))",
        "histogram_quantile(0.99, sum by (job, le) (rate(req_seconds_bucket[5m])))",
        'histogram_quantile(0.9, rate(req_seconds_bucket{job="api"}[10m]))',
    ])
