import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.errors import ValidationError
from gameday.slo.sloth import convert_sloth, events_selector
from gameday.slo.validate import collect_slos
from tests.conftest import require_binary

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


# --- Sloth's getting-started example: alert labels and annotations carried over ---------

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sloth" / "getting-started.yml"
ROOT = Path(__file__).resolve().parents[2]
SPEC_LABELS = {"owner": "myteam", "repo": "myorg/myservice", "tier": "2"}
SUMMARY = "High error rate on 'myservice' requests responses"
# What Sloth generates for examples/getting-started.yml, read off its published output
# examples/_gen/getting-started.yml (github.com/slok/sloth, commit 886f97a2): one
# MyServiceHighErrorRate rule per severity, no `for`; rule labels = alerting.labels merged
# with page_alert/ticket_alert labels, plus sloth_severity; annotations = Sloth's default
# title and summary, the spec's summary replacing the default one; expressions
# (short > factor * budget and long > factor * budget) or (...), budget 0.001.
SLOTH_ALERTS = {
    "page": {
        "labels": {"category": "availability", "routing_key": "myteam",
                   "severity": "pageteam", "sloth_severity": "page"},
        "summary": SUMMARY,
        "windows": [("5m", "1h", 14.4), ("30m", "6h", 6.0)],
    },
    "ticket": {
        "labels": {"category": "availability", "severity": "slack",
                   "slack_channel": "#alerts-myteam", "sloth_severity": "ticket"},
        "summary": SUMMARY,
        "windows": [("2h", "1d", 3.0), ("6h", "3d", 1.0)],
    },
}
_SIDE = re.compile(r"slo:sli_error:ratio_rate(\w+)\{[^}]*\} > \(([\d.]+) \* ([\d.e-]+)\)")


def _import_and_generate(tmp_path, spec: Path) -> tuple[Path, dict]:
    specs = tmp_path / "specs"
    (specs / "windows").mkdir(parents=True)
    shutil.copy(ROOT / "slos" / "windows" / "google-30d.yaml", specs / "windows")
    runner = CliRunner()
    out = specs / "myservice.yaml"
    result = runner.invoke(app, ["slo", "import-sloth", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["slo", "validate", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["slo", "generate", "--specs", str(specs), "--catalog",
                                 "google-30d", "--out", str(tmp_path / "gen")])
    assert result.exit_code == 0, result.output
    gen = tmp_path / "gen" / "google-30d"
    return gen, yaml.safe_load((gen / "myservice.rules.yml").read_text())


def test_getting_started_alerts_match_sloths_published_output(tmp_path):
    _, rules = _import_and_generate(tmp_path, FIXTURE)
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert [(r["alert"], r["labels"]["sloth_severity"]) for r in alerts] == [
        ("MyServiceHighErrorRate", "page"), ("MyServiceHighErrorRate", "ticket")]
    for rule in alerts:
        want = SLOTH_ALERTS[rule["labels"]["sloth_severity"]]
        # Sloth puts the service's labels on the recording rules, whose series the alert
        # inherits; gameday puts them on the alert rule: Alertmanager sees the same set.
        assert rule["labels"] == {**SPEC_LABELS, **want["labels"]}
        assert rule["annotations"]["summary"] == want["summary"]
        # Sloth's default title is replaced by gameday's description and runbook_url.
        assert sorted(rule["annotations"]) == ["description", "runbook_url", "summary"]
        assert "for" not in rule
        sides = [(w, float(f), float(b)) for w, f, b in _SIDE.findall(rule["expr"])]
        assert all(b == pytest.approx(0.001) for _, _, b in sides)
        shorts, longs = sides[::2], sides[1::2]
        assert [(s[1], lg[1]) for s, lg in zip(shorts, longs, strict=True)] == [
            (f, f) for _, _, f in want["windows"]]  # both windows of a pair, one factor
        assert [(s[0], lg[0], s[1]) for s, lg in zip(shorts, longs, strict=True)] == \
            want["windows"]


def test_getting_started_generated_promtool_tests_pass(tmp_path):
    promtool = require_binary("promtool")
    gen, _ = _import_and_generate(tmp_path, FIXTURE)
    tests = yaml.safe_load((gen / "myservice.test.yml").read_text())
    fired = {a["exp_labels"]["sloth_severity"]: a for t in tests["tests"]
             for case in t["alert_rule_test"] for a in case["exp_alerts"]}
    ids = {"sloth_id": "myservice-requests-availability", "sloth_service": "myservice",
           "sloth_slo": "requests-availability"}
    for severity, alert in fired.items():  # what Alertmanager receives
        assert alert["exp_labels"] == {**ids, **SPEC_LABELS, **SLOTH_ALERTS[severity]["labels"]}
        assert alert["exp_annotations"]["summary"] == SUMMARY
    assert sorted(fired) == ["page", "ticket"]
    for args in (["check", "rules", "myservice.rules.yml"],
                 ["test", "rules", "myservice.test.yml"]):
        done = subprocess.run([promtool, *args], cwd=gen, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


def test_severity_labels_and_annotations_win_over_common_ones(tmp_path):
    spec = yaml.safe_load(FIXTURE.read_text())
    alerting = spec["slos"][0]["alerting"]
    alerting["labels"]["severity"] = "common"
    alerting["page_alert"]["annotations"] = {"summary": "Paging: myservice fails"}
    alerting["ticket_alert"] = {"disable": True, "labels": {"slack_channel": "#x"}}
    path = tmp_path / "sloth.yml"
    path.write_text(yaml.safe_dump(spec))
    _, rules = _import_and_generate(tmp_path, path)
    (page,) = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert page["labels"] == {**SPEC_LABELS, "category": "availability",
                              "severity": "pageteam", "routing_key": "myteam",
                              "sloth_severity": "page"}
    assert page["annotations"]["summary"] == "Paging: myservice fails"


@pytest.mark.parametrize("alerting, message", [
    ({"page_alert": {"labels": {"sloth_severity": "critical"}}},
     "s.yml: slo 'a': alerting.page_alert.labels.sloth_severity: is set by the generated "
     "rules; use another label name"),
    ({"labels": {"routing-key": "x"}},
     "s.yml: slo 'a': alerting.labels: 'routing-key' is not a Prometheus label name "
     "(letters, digits and '_', not starting with a digit or '__')"),
    ({"ticket_alert": {"annotations": {"summary": {"a": 1}}}},
     "s.yml: slo 'a': alerting.ticket_alert.annotations.summary must be a string, "
     "got {'a': 1}"),
])
def test_bad_alert_labels_are_refused(alerting, message):
    spec = {**SLOTH, "slos": [{"name": "a", "objective": 99, "alerting": alerting,
                              "sli": SLOTH["slos"][0]["sli"]}]}
    with pytest.raises(ValidationError) as err:
        convert_sloth(spec, "s.yml")
    assert str(err.value) == message


OPENSLO = """\
apiVersion: openslo/v1
kind: AlertCondition
metadata: {name: fast, labels: {team: a}, annotations: {gameday/note: x, summary: fast}}
spec: {severity: page, condition: {kind: burnrate}}
---
apiVersion: openslo/v1
kind: AlertPolicy
metadata: {name: %s, labels: {team: %s}}
spec: {conditions: [{conditionRef: fast}]}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: avail}
spec:
  service: svc
  indicator: {spec: {ratioMetric: {counter: true, bad: {metricSource: {type: Prometheus,
    spec: {query: errs_total}}}, total: {metricSource: {type: Prometheus,
    spec: {query: reqs_total}}}}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  objectives: [{target: 0.99}]
  alertPolicies: [%s]
"""


def test_openslo_policy_and_condition_metadata_reach_the_alert(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(OPENSLO % ("p", "b", "p"))
    (slo,), errors = collect_slos([path])
    assert errors == []
    assert slo.alert_labels == {"page": {"team": "a"}}  # the condition's label wins
    assert slo.alert_annotations == {"page": {"summary": "fast"}}  # gameday/* not carried
    assert slo.severities == ("page",)


def test_openslo_two_policies_that_disagree_on_a_label(tmp_path):
    path = tmp_path / "s.yaml"
    text = (OPENSLO % ("p", "b", "p, q")).replace(
        "metadata: {name: fast, labels: {team: a}, ", "metadata: {name: fast, ")
    text += ("---\napiVersion: openslo/v1\nkind: AlertPolicy\nmetadata: {name: q, labels: "
             "{team: c}}\nspec: {conditions: [{conditionRef: fast}]}\n")
    path.write_text(text)
    assert collect_slos([path])[1] == [
        f"{path}: slo 'avail': alertPolicies[1]: label 'team' of the page alert is 'c' here "
        f"but 'b' in an earlier alert policy or condition"]
