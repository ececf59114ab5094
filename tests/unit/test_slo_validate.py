from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.slo.validate import collect_slos

ROOT = Path(__file__).resolve().parents[2]


def _slo(**spec_changes):
    spec = {
        "service": "gateway",
        "indicator": {"metadata": {"name": "i"}, "spec": {"ratioMetric": {
            "counter": True,
            "bad": {"metricSource": {"type": "Prometheus",
                                     "spec": {"query": 'http_requests_total{code=~"5.."}'}}},
            "total": {"metricSource": {"type": "Prometheus",
                                       "spec": {"query": "http_requests_total"}}}}}},
        "timeWindow": [{"duration": "30d", "isRolling": True}],
        "budgetingMethod": "Occurrences",
        "objectives": [{"target": 0.999}],
    }
    spec.update(spec_changes)
    return {"apiVersion": "openslo/v1", "kind": "SLO",
            "metadata": {"name": "gateway-availability"}, "spec": spec}


def _errors(tmp_path, *docs):
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    slos, errors = collect_slos([path])
    return [e.replace(f"{path}", "slos/gateway.yaml") for e in errors], slos


def _ratio(**parts):
    return {"metadata": {"name": "i"}, "spec": {"ratioMetric": {"counter": True, **{
        k: {"metricSource": {"type": "Prometheus", "spec": {"query": q}}}
        for k, q in parts.items()}}}}


def test_shipped_slos_are_valid():
    slos, errors = collect_slos([ROOT / "slos"])
    assert errors == []
    assert sorted(s.name for s in slos) == [
        "classifier-prediction-quality", "features-availability", "gateway-availability",
        "gateway-classify-latency", "llm-time-to-first-token"]
    quality = next(s for s in slos if s.name == "classifier-prediction-quality")
    assert quality.severities == ("ticket",)


def test_valid_minimal_slo(tmp_path):
    errors, slos = _errors(tmp_path, _slo())
    assert errors == []
    assert slos[0].target == 0.999 and slos[0].period_s == 30 * 86400
    assert slos[0].severities == ("page", "ticket")


@pytest.mark.parametrize("changes, message", [
    ({"objectives": [{"target": 1.5}]},
     "objectives[0].target must be below 1, got 1.5"),
    ({"objectives": [{"targetPercent": 100.5}]},
     "objectives[0].targetPercent must be below 100, got 100.5"),
    ({"objectives": [{"target": "high"}]},
     "objectives[0].target must be a number, got 'high'"),
    ({"timeWindow": [{"duration": "1M", "calendar": {"startTime": "2024-01-01"}}]},
     "timeWindow[0] must be rolling (isRolling: true); calendar windows are not supported, "
     "got {'calendar': {'startTime': '2024-01-01'}, 'duration': '1M'}"),
    ({"budgetingMethod": "Timeslices"},
     "budgetingMethod 'Timeslices' is not supported; use Occurrences (Timeslices and "
     "RatioTimeslices cannot be computed from the rules gameday generates)"),
    ({"timeWindow": [{"duration": "30 days", "isRolling": True}]},
     "timeWindow[0].duration must be a duration like 5m, 1h or 30d, got '30 days'"),
    ({"indicatorRef": "nope", "indicator": None},
     "indicatorRef 'nope' is not a declared SLI"),
])
def test_messages_name_file_slo_field_value(tmp_path, changes, message):
    slo = _slo(**changes)
    slo["spec"] = {k: v for k, v in slo["spec"].items() if v is not None}
    errors, _ = _errors(tmp_path, slo)
    assert errors == [f"slos/gateway.yaml: slo 'gateway-availability': {message}"]


def test_le_must_be_a_bucket_boundary(tmp_path):
    slo = _slo(indicator=_ratio(good='http_request_duration_seconds_bucket{le="0.35"}',
                                total="http_request_duration_seconds_count"))
    errors, _ = _errors(tmp_path, slo)
    assert len(errors) == 1
    assert errors[0].startswith(
        "slos/gateway.yaml: slo 'gateway-availability': indicator: ratioMetric.good"
        ".metricSource.spec.query: le='0.35' is not a bucket boundary of "
        "http_request_duration_seconds (buckets: 0.005, 0.01,")


def test_le_must_be_written_as_exposed(tmp_path):
    slo = _slo(indicator=_ratio(good='http_request_duration_seconds_bucket{le="1"}',
                                total="http_request_duration_seconds_count"))
    errors, _ = _errors(tmp_path, slo)
    assert errors == ["slos/gateway.yaml: slo 'gateway-availability': indicator: "
                      "ratioMetric.good.metricSource.spec.query: le must be written as "
                      "/metrics shows it, '1.0', got '1'"]


def test_good_and_bad_are_exclusive(tmp_path):
    slo = _slo(indicator=_ratio(good="a_total", bad="b_total", total="c_total"))
    errors, _ = _errors(tmp_path, slo)
    assert errors == ["slos/gateway.yaml: slo 'gateway-availability': indicator: "
                      "ratioMetric needs exactly one of good or bad"]


def test_alert_condition_must_be_burnrate(tmp_path):
    policy = {"metadata": {"name": "p"}, "spec": {"conditions": [
        {"kind": "AlertCondition", "metadata": {"name": "c"},
         "spec": {"severity": "page", "condition": {"kind": "threshold"}}}]}}
    errors, _ = _errors(tmp_path, _slo(alertPolicies=[policy]))
    assert errors == ["slos/gateway.yaml: slo 'gateway-availability': alertPolicies[0]: "
                      "conditions[0].condition.kind must be burnrate, got 'threshold'"]


def test_every_error_reported(tmp_path):
    other = _slo(objectives=[{"target": 0}])
    other["metadata"]["name"] = "other"
    errors, _ = _errors(tmp_path, _slo(objectives=[{"target": 2}]), other)
    assert errors == [
        "slos/gateway.yaml: slo 'gateway-availability': objectives[0].target must be below 1, "
        "got 2",
        "slos/gateway.yaml: slo 'other': objectives[0].target must be above 0, got 0",
    ]


def test_cli_validate_exits_2_one_line_per_error(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(_slo(objectives=[{"target": 1.5}])))
    result = CliRunner().invoke(app, ["slo", "validate", str(path)])
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: {path}: slo 'gateway-availability': "
                                     f"objectives[0].target must be below 1, got 1.5")


def test_cli_validate_ok():
    result = CliRunner().invoke(app, ["slo", "validate", str(ROOT / "slos")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 5 SLO(s)")
