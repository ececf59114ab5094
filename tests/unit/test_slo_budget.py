"""Error-budget policy: validation, evaluation against SLO status, the `slo budget` command."""

import json
import math

import pytest
import yaml
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.engine.exposition import Sample
from gameday.engine.recording import RecordingWriter
from gameday.errors import ValidationError
from gameday.slo.budget import evaluate_policy, load_policy, render, validate_policy
from gameday.slo.status import SLOStatus
from gameday.slo.storage import render_files, write_files
from gameday.slo.validate import load_slos
from gameday.slo.windows import load_catalog
from tests.procs import ROOT
from tests.unit.test_slo_backtest import write_spec

START = 1_800_000_000.0
GOOGLE_WINDOWS = {300.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0, 259200.0}
STEP = {"name": "fast", "window": "1h", "burn_rate_threshold": 14.4, "alert": True,
        "message_alert": "burning", "message_ok": "fine", "action": "Page on-call."}


def test_the_shipped_policy_loads_and_keeps_the_spec_loader_working():
    policy = load_policy(ROOT / "slos/policies.yaml", GOOGLE_WINDOWS)
    names = [s.name for s in policy.steps]
    assert names[0] == "budget-exhausted" and "fast-burn" in names and len(names) == 6
    assert policy.slo_period_s == 30 * 86400
    assert all(s.action for s in policy.steps)
    result = CliRunner().invoke(app, ["slo", "validate", str(ROOT / "slos")])
    assert result.exit_code == 0, result.output


def test_slo_generator_style_list_with_seconds(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump([{**STEP, "window": 3600},
                                    {**STEP, "name": "slow", "window": 86400,
                                     "burn_rate_threshold": 3, "alert": False}]))
    policy = load_policy(path, GOOGLE_WINDOWS)
    assert [(s.name, s.window, s.burn_rate_threshold) for s in policy.steps] == [
        ("fast", "1h", 14.4), ("slow", "1d", 3.0)]


@pytest.mark.parametrize("change, text", [
    ({"burn_rate_threshold": -1}, "step 1 ('fast'): field 'burn_rate_threshold' must be a "
                                  "positive number, got -1"),
    ({"burn_rate_threshold": "high"}, "field 'burn_rate_threshold' must be a positive number, "
                                      "got 'high'"),
    ({"window": "2d"}, "step 1 ('fast'): field 'window' must be a window the rules record"),
    ({"window": "forever"}, "field 'window' must be a duration like 5m, 1h or 30d, "
                            "got 'forever'"),
    ({"window": "60d"}, "field 'window' must not exceed the SLO period 30d, got '60d'"),
    ({"alert": "yes"}, "field 'alert' must be true or false, got 'yes'"),
    ({"action": ""}, "field 'action' must be a sentence, got ''"),
    ({"treshold": 3}, "step 1 ('fast'): unknown field 'treshold'"),
    ({"name": 7}, "step 1: field 'name' must be a non-empty string, got 7"),
])
def test_bad_steps_name_file_step_field_and_value(tmp_path, change, text):
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"steps": [{**STEP, **change}]}))
    with pytest.raises(ValidationError) as err:
        load_policy(path, GOOGLE_WINDOWS)
    assert str(err.value).startswith(f"{path}: ")
    assert text in str(err.value)


def test_missing_fields_duplicates_and_no_policy(tmp_path):
    where = "p.yaml"
    with pytest.raises(ValidationError, match="step 1 \\('fast'\\): missing field 'action'"):
        validate_policy({"steps": [{k: v for k, v in STEP.items() if k != "action"}]}, where)
    with pytest.raises(ValidationError, match="step 2: field 'name': 'fast' is already"):
        validate_policy({"steps": [STEP, STEP]}, where)
    with pytest.raises(ValidationError, match="field 'steps' must be a non-empty list"):
        validate_policy({"steps": []}, where)
    path = tmp_path / "none.yaml"
    path.write_text("apiVersion: openslo/v1\nkind: DataSource\nspec: {}\n")
    with pytest.raises(ValidationError, match="expected one error-budget policy.*found 0"):
        load_policy(path)
    with pytest.raises(ValidationError, match="no such policy file"):
        load_policy(tmp_path / "missing.yaml")


def test_an_openslo_document_names_where_the_policy_is(tmp_path):
    path = tmp_path / "policies.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "openslo/v1", "kind": "AlertPolicy",
                                    "metadata": {"name": "ebp"},
                                    "spec": {"errorBudgetPolicy": {"steps": [
                                        {**STEP, "burn_rate_threshold": 0}]}}}))
    with pytest.raises(ValidationError) as err:
        load_policy(path)
    assert str(err.value).startswith(f"{path}: alertpolicy 'ebp': spec.errorBudgetPolicy: "
                                     f"step 1 ('fast'): field 'burn_rate_threshold'")


def drill_status(burn_1m: float, burn_period: float) -> SLOStatus:
    """What collect_status reports for the drill-12h rules (windows scaled by 1/60)."""
    burns = {"5s": burn_1m, "30s": burn_1m, "1m": burn_1m, "2m": burn_1m / 2,
             "6m": burn_1m / 6, "24m": burn_1m / 24, "72m": burn_1m / 72, "12h": burn_period}
    return SLOStatus("gateway-gateway-availability", "gateway", "gateway-availability",
                     objective=0.999, budget_remaining=1 - burn_period, period_days=0.5,
                     burn_by_window=burns)


def test_steps_read_the_scaled_windows_and_trigger_actions():
    policy = load_policy(ROOT / "slos/policies.yaml")
    quiet = SLOStatus("x-y", "x", "y", objective=0.99)  # no traffic: no data at all
    burning, fine, spent = evaluate_policy(policy, [drill_status(20, 0.2),
                                                    drill_status(0.5, 0.1),
                                                    drill_status(2, 1.5)])
    by_name = {r.step.name: r for r in burning.results}
    assert by_name["fast-burn"].burn == 20 and by_name["fast-burn"].triggered
    assert not by_name["sustained-burn"].triggered  # 6h -> 6m: 20 / 6 < 6
    assert math.isclose(by_name["fast-burn"].budget_spent, 20 * 3600 / (30 * 86400))
    assert burning.alerting and burning.actions[0].startswith("Page on-call now")
    assert not fine.triggered and fine.actions == [policy.ok_action]
    assert spent.actions[0].startswith("Freeze feature releases")
    assert not spent.alerting
    (nodata,) = evaluate_policy(policy, [quiet])
    assert nodata.actions[0].startswith("No data") and math.isnan(nodata.results[0].burn)
    text = render([burning, fine, spent, nodata], policy)
    assert "2 of 4 SLO(s) need action" in text
    assert "TRIGGERED fast-burn: 1h burn 20.0x >= 14.4x" in text
    assert "ACTION: Freeze feature releases" in text
    # no figure from the period rule's extrapolated "budget left"
    assert "overspent" not in text and "budget left" not in text


def test_windows_longer_than_the_data_are_not_judged_and_recommend_nothing():
    """90 s of data judge the 1h step (1m in drill-12h) and nothing longer: no freeze."""
    policy = load_policy(ROOT / "slos/policies.yaml")
    short = drill_status(0.5, 3.0)  # the period rule extrapolates 3x from 90 s
    short.use = {"span_s": 90.0, "bad": 1.0, "total": 2000.0, "consumed": 0.0104}
    (b,) = evaluate_policy(policy, [short])
    by_name = {r.step.name: r for r in b.results}
    assert by_name["fast-burn"].judged and not by_name["fast-burn"].triggered
    for name in ("budget-exhausted", "sustained-burn", "big-incident", "slow-burn",
                 "steady-drain"):
        assert not by_name[name].judged and not by_name[name].triggered, name
    assert by_name["budget-exhausted"].unjudged == "the 12h window needs 12h of data, there " \
        "is 90s"
    assert not b.triggered and b.actions[0].startswith("Not enough data to decide")
    assert "6m, 24m, 72m, 12h cannot be judged yet" in b.actions[0]
    text = render([b], policy)
    assert "Freeze" not in text and "Ship features" not in text
    assert "CANNOT JUDGE 6h: the 6m window needs 6m of data, there is 90s" in text
    assert "budget consumed: 1.04% of the 12h period's budget over 90s of data (1 of 2,000 " \
        "events bad)" in text
    assert b.as_dict()["steps"][0]["judged"] is False


def write_outage(path, minutes_ok=3, minutes_bad=1, rps=50):
    writer = RecordingWriter(path, started_at=START, interval_s=1.0)
    ok = bad = 0.0
    base = (("method", "POST"), ("replica", "0"), ("route", "/v1/classify"),
            ("service", "gateway"))
    for i in range((minutes_ok + minutes_bad) * 60):
        ok, bad = (ok + rps, bad) if i < minutes_ok * 60 else (ok, bad + rps)
        writer.write_scrape(START + i, "gateway", "127.0.0.1:8080", {"replica": "0"}, [
            Sample("http_requests_total", tuple(sorted(base + (("code", "200"),))), ok),
            Sample("http_requests_total", tuple(sorted(base + (("code", "503"),))), bad)])
    writer.close()


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def own_rules(tmp_path):
    """Drill rules of the test's own 5xx SLO (slos/ may change under other work)."""
    slos = load_slos([write_spec(tmp_path)])
    catalog = load_catalog(ROOT / "slos/windows", "drill-12h")
    write_files(tmp_path / "_gen" / "drill-12h", render_files(slos, catalog))
    return tmp_path / "_gen"


def test_cli_budget_from_a_recording(tmp_path, at_root):
    rec = tmp_path / "outage.jsonl.gz"
    write_outage(rec)
    rules = own_rules(tmp_path)
    result = CliRunner().invoke(app, ["slo", "budget", "--from", str(rec), "--json",
                                      "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    (gw,) = body["slos"]
    assert gw["slo_id"] == "gateway-gateway-availability" and gw["objective"] == 0.999
    steps = {s["name"]: s for s in gw["steps"]}
    assert steps["fast-burn"]["triggered"] and steps["fast-burn"]["burn"] > 900
    # 4 minutes of data: the 1h step (1m) is judged; the 12h budget-exhausted step is not
    assert steps["budget-exhausted"]["judged"] is False and not steps["budget-exhausted"][
        "triggered"]
    assert gw["alerting"] and gw["actions"][0].startswith("Page on-call now")
    assert not any(a.startswith("Freeze") for a in gw["actions"])
    # 3,000 bad of 12,000 events over 240 s: 3000 / (0.001 x 12000 x 43200 / 240)
    assert gw["events"]["bad"] == pytest.approx(3000, rel=0.02)
    assert gw["budget_consumed"] == pytest.approx(3000 / (0.001 * 12000 * 43200 / 240),
                                                  rel=0.02)
    text = CliRunner().invoke(app, ["slo", "budget", "--from", str(rec), "--rules", str(rules)])
    assert text.exit_code == 0 and "ACTION: Page on-call now" in text.stdout
    assert f"budget consumed: {gw['budget_consumed_text']} of the 12h period's" in text.stdout


def test_cli_budget_bad_input_exits_2(tmp_path, at_root):
    bad = tmp_path / "policy.yaml"
    bad.write_text(yaml.safe_dump({"steps": [{**STEP, "burn_rate_threshold": "lots"}]}))
    rec = tmp_path / "outage.jsonl.gz"
    write_outage(rec, 1, 0)
    result = CliRunner().invoke(app, ["slo", "budget", "--policy", str(bad), "--from", str(rec)])
    assert result.exit_code == 2
    assert (f"error: {bad}: step 1 ('fast'): field 'burn_rate_threshold' must be a positive "
            f"number, got 'lots'") in result.stderr
    result = CliRunner().invoke(app, ["slo", "budget", "--from", str(tmp_path / "nope.gz")])
    assert result.exit_code == 2 and "no such recording" in result.stderr
    result = CliRunner().invoke(app, ["slo", "budget", "--engine", "influx"])
    assert result.exit_code == 2 and "'influx'" in result.stderr


def test_cli_budget_on_a_90_s_recording_recommends_nothing_it_cannot_back(tmp_path, at_root):
    """Issue 14: 90 s with a few errors. The 1h step (1m in drill-12h) is judged; the
    longer ones are named as not judged, and no "freeze releases" comes out of 90 s."""
    rec = tmp_path / "short.jsonl.gz"
    writer = RecordingWriter(rec, started_at=START, interval_s=1.0)
    ok = bad = 0.0
    base = (("method", "POST"), ("replica", "0"), ("route", "/v1/classify"),
            ("service", "gateway"))
    for i in range(90):
        ok, bad = (ok + 50, bad) if i < 80 else (ok + 49, bad + 1)
        writer.write_scrape(START + i, "gateway", "127.0.0.1:8080", {"replica": "0"}, [
            Sample("http_requests_total", tuple(sorted(base + (("code", "200"),))), ok),
            Sample("http_requests_total", tuple(sorted(base + (("code", "503"),))), bad)])
    writer.close()
    rules = own_rules(tmp_path)
    result = CliRunner().invoke(app, ["slo", "budget", "--from", str(rec), "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for step in ("6h", "1d", "3d", "30d"):
        assert f"CANNOT JUDGE {step}:" in text, text
    assert "there is 89s" in text and "Freeze" not in text and "Ship features" not in text
    assert "ACTION: Not enough data to decide" in text
    assert "budget consumed:" in text and "of the 12h period's budget over 89s of data" in text
