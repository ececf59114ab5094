import pytest
import yaml
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.errors import ValidationError
from gameday.slo.sloth import convert_sloth, events_selector
from gameday.slo.validate import collect_slos

SLOTH = {
    "version": "prometheus/v1",
    "service": "myservice",
    "labels": {"owner": "myteam"},
    "slos": [{
        "name": "requests-availability",
        "objective": 99.9,
        "description": "HTTP availability",
        "sli": {"events": {
            "error_query": 'sum(rate(http_requests_total{job="myservice",code=~"(5..|429)"}'
                           '[{{.window}}]))',
            "total_query": 'sum(rate(http_requests_total{job="myservice"}[{{.window}}]))'}},
        "alerting": {"name": "MyServiceHighErrorRate",
                     "annotations": {"runbook": "https://example.com/rb"},
                     "ticket_alert": {"disable": True}},
    }, {
        "name": "raw-ratio",
        "objective": 99,
        "sli": {"raw": {"error_ratio_query":
                        "sum(rate(errs_total[{{.window}}])) / sum(rate(reqs_total[{{.window}}]))"}},
    }],
}


def test_events_selector_forms():
    assert events_selector('sum(rate(a_total{x="1"}[{{.window}}]))', "q") == 'a_total{x="1"}'
    assert events_selector("rate(a_total[{{ .window }}])", "q") == "a_total"
    assert events_selector("sum(increase(a_total[{{.window}}]))", "q") == "a_total"


def test_round_trip_through_validation(tmp_path):
    path = tmp_path / "imported.yaml"
    path.write_text("---\n".join(yaml.safe_dump(d) for d in convert_sloth(SLOTH, "s.yml")))
    slos, errors = collect_slos([path])
    assert errors == []
    first, second = slos
    assert first.id == "myservice-requests-availability"  # Sloth's sloth_id
    assert first.target == 0.999 and first.severities == ("page",)
    assert first.alert == "MyServiceHighErrorRate"
    assert first.runbook_url == "https://example.com/rb"
    assert first.labels == {"owner": "myteam"}
    assert first.indicator.bad.text() == 'http_requests_total{job="myservice",code=~"(5..|429)"}'
    assert first.indicator.total.text() == 'http_requests_total{job="myservice"}'
    assert second.indicator.bad.text() == "errs_total"
    assert second.indicator.total.text() == "reqs_total"
    assert second.severities == ("page", "ticket")


def test_raw_query_that_is_not_a_ratio_is_refused():
    spec = {**SLOTH, "slos": [{"name": "r", "objective": 99, "sli": {"raw": {
        "error_ratio_query": "1 - avg_over_time(up[{{.window}}])"}}}]}
    with pytest.raises(ValidationError) as err:
        convert_sloth(spec, "s.yml")
    assert str(err.value) == ("s.yml: slo 'r': sli.raw.error_ratio_query cannot be expressed "
                              "as an OpenSLO ratio of counters; rewrite it as sli.events "
                              "(error_query, total_query), got "
                              "'1 - avg_over_time(up[{{.window}}])'")


def test_not_a_sloth_spec():
    with pytest.raises(ValidationError, match="version must be 'prometheus/v1'"):
        convert_sloth({"version": "v2"}, "s.yml")


def test_cli_refuses_to_overwrite_without_force(tmp_path):
    src = tmp_path / "sloth.yml"
    src.write_text(yaml.safe_dump(SLOTH))
    out = tmp_path / "out.yaml"
    runner = CliRunner()
    assert runner.invoke(app, ["slo", "import-sloth", str(src), "-o", str(out)]).exit_code == 0
    again = runner.invoke(app, ["slo", "import-sloth", str(src), "-o", str(out)])
    assert again.exit_code == 2
    assert f"{out}: already exists; pass --force to overwrite it" in again.output
    forced = runner.invoke(app, ["slo", "import-sloth", str(src), "-o", str(out), "--force"])
    assert forced.exit_code == 0
    assert collect_slos([out])[1] == []
