from pathlib import Path

import pytest
import yaml

from gameday.slo import names
from gameday.slo.promtests import build_tests, example_series
from gameday.slo.rules import alert_expr, build_rule_groups
from gameday.slo.storage import render_files
from gameday.slo.validate import load_slos
from gameday.slo.windows import load_catalog

ROOT = Path(__file__).resolve().parents[2]
SLOS = {s.name: s for s in load_slos([ROOT / "slos"])}
GOOGLE = load_catalog(ROOT / "slos" / "windows", "google-30d")
DRILL = load_catalog(ROOT / "slos" / "windows", "drill-12h")
AVAIL = SLOS["gateway-availability"]


def _rules(slo, catalog):
    return [r for g in build_rule_groups(slo, catalog, "runbooks") for r in g["rules"]]


def test_recording_rule_names_are_sloths():
    records = [r["record"] for r in _rules(AVAIL, GOOGLE) if "record" in r]
    assert records == [
        "slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m", "slo:sli_error:ratio_rate1h",
        "slo:sli_error:ratio_rate2h", "slo:sli_error:ratio_rate6h", "slo:sli_error:ratio_rate1d",
        "slo:sli_error:ratio_rate3d", "slo:sli_error:ratio_rate30d",
        "slo:objective:ratio", "slo:error_budget:ratio", "slo:time_period:days",
        "slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio", "sloth_slo_info"]


def test_drill_windows_and_period():
    records = [r["record"] for r in _rules(AVAIL, DRILL) if "record" in r]
    assert records[:8] == [f"slo:sli_error:ratio_rate{w}" for w in
                           ("5s", "30s", "1m", "2m", "6m", "24m", "72m", "12h")]
    days = next(r for r in _rules(AVAIL, DRILL) if r.get("record") == names.TIME_PERIOD_DAYS)
    assert days["expr"] == "vector(0.5)"


def test_sli_rule_labels_and_expression():
    rule = _rules(AVAIL, GOOGLE)[0]
    assert rule["labels"] == {"sloth_id": "gateway-gateway-availability",
                              "sloth_service": "gateway", "sloth_slo": "gateway-availability",
                              "sloth_window": "5m"}
    assert rule["expr"] == (
        '(sum(rate(gateway_classify_answers_total{answer=~"cached|guess|error"}[5m]))'
        ' or vector(0))\n/\n'
        '(sum(rate(gateway_classify_answers_total{answer=~"model|model_degraded|cached|guess|'
        'error"}[5m])) > 0)\n')


def test_bad_based_sli_is_bad_over_total():
    rule = _rules(SLOS["features-availability"], GOOGLE)[0]
    assert rule["expr"] == (
        '(sum(rate(feature_store_queries_total{outcome="error"}[5m])) or vector(0))\n/\n'
        '(sum(rate(feature_store_queries_total{outcome=~"hit|miss|error"}[5m])) > 0)\n')


def test_good_based_sli_is_one_minus_good_over_total():
    expr = _rules(SLOS["gateway-classify-latency"], GOOGLE)[0]["expr"]
    assert expr.startswith("1 - (\n  (sum(rate(http_request_duration_seconds_bucket{")
    assert 'le="0.3"' in expr and "http_request_duration_seconds_count" in expr


def test_page_alert_expression_in_sloths_form():
    m = ('sloth_id="gateway-gateway-availability", sloth_service="gateway", '
         'sloth_slo="gateway-availability"')
    assert alert_expr(AVAIL, GOOGLE, "page") == (
        "(\n"
        f"    max(slo:sli_error:ratio_rate5m{{{m}}} > (14.4 * 0.001)) without (sloth_window)\n"
        "    and\n"
        f"    max(slo:sli_error:ratio_rate1h{{{m}}} > (14.4 * 0.001)) without (sloth_window)\n"
        ")\nor\n(\n"
        f"    max(slo:sli_error:ratio_rate30m{{{m}}} > (6 * 0.001)) without (sloth_window)\n"
        "    and\n"
        f"    max(slo:sli_error:ratio_rate6h{{{m}}} > (6 * 0.001)) without (sloth_window)\n"
        ")\n")


def test_alerts_share_one_name_with_severity_and_annotations():
    alerts = [r for r in _rules(AVAIL, GOOGLE) if "alert" in r]
    assert [(a["alert"], a["labels"]["sloth_severity"]) for a in alerts] == [
        ("GatewayAvailabilityBudgetBurn", "page"), ("GatewayAvailabilityBudgetBurn", "ticket")]
    for a in alerts:
        assert set(a["annotations"]) == {"summary", "description", "runbook_url"}
        assert a["annotations"]["runbook_url"] == "runbooks/GatewayAvailabilityBudgetBurn.md"


def test_ticket_only_slo_has_no_page_alert():
    alerts = [r for r in _rules(SLOS["classifier-prediction-quality"], GOOGLE) if "alert" in r]
    assert [a["labels"]["sloth_severity"] for a in alerts] == ["ticket"]


def test_only_supported_promql_functions():
    text = "".join(render_files(list(SLOS.values()), GOOGLE)[f] for f in
                   ("gateway.rules.yml", "llm.rules.yml"))
    for banned in ("histogram_quantile", "avg_over_time", "clamp", "absent", "offset"):
        assert banned not in text


def test_example_series_split_bad_and_rest():
    assert example_series(AVAIL) == [
        ('gateway_classify_answers_total{answer="cached"}', "part"),
        ('gateway_classify_answers_total{answer="model"}', "rest")]
    assert example_series(SLOS["gateway-classify-latency"]) == [
        ('http_request_duration_seconds_bucket{le="0.3",route="/v1/classify",service="gateway"}',
         "part"),
        ('http_request_duration_seconds_count{route="/v1/classify",service="gateway"}', "total")]
    assert example_series(SLOS["features-availability"]) == [
        ('feature_store_queries_total{outcome="error"}', "part"),
        ('feature_store_queries_total{outcome="hit"}', "rest")]
    quality = example_series(SLOS["classifier-prediction-quality"])
    assert [s for s, _ in quality] == [
        'model_predictions_total{model="classifier",outcome="incorrect"}',
        'model_predictions_total{model="classifier",outcome="correct"}']


@pytest.mark.parametrize("catalog", [GOOGLE, DRILL], ids=["google", "drill"])
def test_generated_tests_page_ticket_and_quiet(catalog):
    tests = build_tests(AVAIL, catalog, "runbooks")
    assert [t["name"].split(": ")[1] for t in tests] == [
        "must page", "must ticket", "must stay quiet",
        "zero traffic records nothing and stays quiet"]
    severities = [[a["exp_labels"]["sloth_severity"] for a in t["alert_rule_test"][0]["exp_alerts"]]
                  for t in tests]
    assert "page" in severities[0] and severities[1:] == [["ticket"], [], []]
    assert tests[3]["promql_expr_test"][0]["exp_samples"] == []
    assert all(t["interval"] for t in tests)


def test_rendered_files_start_with_header():
    files = render_files(list(SLOS.values()), DRILL)
    assert sorted(files) == [f"{s}.{k}.yml" for s in ("classifier", "features", "gateway", "llm")
                             for k in ("rules", "test")]
    for text in files.values():
        assert text.startswith("# generated by gameday, do not edit\n")
        yaml.safe_load(text)
