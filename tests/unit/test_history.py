"""``gameday history``: one row per drill from its own score.json (scored, no score, broken),
the team filter on responders, the trend PNG; and ``gameday drill new`` writes a scenario
that validates, from the template or a copy, and refuses to overwrite or a bad name."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gameday import resources
from gameday.cli.main import app
from gameday.drill.scenario import parse_scenario
from gameday.report.history import draw_trend, history_rows
from gameday.runfolder import Run
from gameday.timeline import append_event

ROOT = Path(__file__).resolve().parents[2]
CHAOS = ROOT / ".venv" / "bin" / "chaos"
runner = CliRunner()
T0 = 1796291373.0


def invoke(*args):
    return runner.invoke(app, list(args))


def drill_folder(runs: Path, run_id: str, started: float, scenario="xid-error-burst",
                 mode="auto", roles=None, who="auto-responder", score: dict | None = None
                 ) -> Run:
    run = Run(runs / run_id)
    run.path.mkdir(parents=True)
    run.drill_file.write_text(json.dumps({"scenario": scenario, "title": "T " + scenario,
                                          "mode": mode, "roles": roles or {},
                                          "started_at": started}))
    append_event(run.path, "run_start", ts=started, who="drill", scenario=scenario)
    append_event(run.path, "fault_start", ts=started + 5, who="chaos")
    append_event(run.path, "ack", ts=started + 9, who=who)
    if score is not None:
        run.score.write_text(json.dumps(score))
    return run


def score(detect, mitigate, recover, percent, result="pass", scenario="xid-error-burst",
          mode="auto") -> dict:
    return {"scenario": scenario, "mode": mode, "title": "T",
            "durations_s": {"detect": detect, "acknowledge": 4.0, "mitigate": mitigate,
                            "recover": recover, "resolve": None},
            "points": {"points": 60, "available": 100, "percent": percent, "items": []},
            "verdict": {"result": result, "checks": [], "reasons": []}}


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(resources.HOME_ENV, raising=False)
    folder = tmp_path / ".gameday" / "runs"
    drill_folder(folder, "20261203-100000-aaaa", T0 + 600, score=score(3.1, 6.2, 38.0, 85.0))
    drill_folder(folder, "20261203-090000-bbbb", T0, scenario="kv-cache-exhaustion",
                 mode="interactive", roles={"commander": "Ann"}, who="bob",
                 score=score(12.0, None, None, 25.0, "fail", "kv-cache-exhaustion",
                             "interactive"))
    drill_folder(folder, "20261203-110000-cccc", T0 + 1200, mode="wheel", who="ann")
    broken = drill_folder(folder, "20261203-120000-dddd", T0 + 1800, score={})
    broken.score.write_text("{not json")
    stack_only = folder / "20261203-130000-eeee"
    stack_only.mkdir()
    (stack_only / "spec.json").write_text("{}")
    return folder


def test_rows_are_read_from_each_runs_score_oldest_first(runs):
    rows = history_rows(runs)
    assert [r["run_id"] for r in rows] == ["20261203-090000-bbbb", "20261203-100000-aaaa",
                                           "20261203-110000-cccc", "20261203-120000-dddd"]
    first, second, unscored, broken = rows
    assert (first["scenario"], first["mode"], first["verdict"], first["score_percent"]) == \
        ("kv-cache-exhaustion", "interactive", "fail", 25.0)
    assert (first["ttd_s"], first["ttm_s"], first["ttr_s"]) == (12.0, None, None)
    assert first["responders"] == ["Ann", "bob"]
    assert (second["ttd_s"], second["ttm_s"], second["ttr_s"]) == (3.1, 6.2, 38.0)
    assert second["date"] == "2026-12-03 09:59"
    assert unscored["status"] == "no score" and unscored["mode"] == "wheel"
    assert unscored["ttd_s"] is None and "score.json: not written" in unscored["problem"]
    assert broken["status"] == "broken"
    assert str(Run(runs / "20261203-120000-dddd").score) in broken["problem"]
    assert "not readable JSON" in broken["problem"]


def test_team_filters_on_the_people_who_responded(runs):
    ids = [r["run_id"][-4:] for r in history_rows(runs, team="ann")]
    assert ids == ["bbbb", "cccc", "dddd"]  # a role, an ack; a broken folder stays listed
    assert [r["run_id"][-4:] for r in history_rows(runs, team=["nobody", "BOB"])] == \
        ["bbbb", "dddd"]
    with pytest.raises(Exception, match="--team: expected one or more names"):
        history_rows(runs, team=" , ")


def test_the_command_lists_every_drill_and_names_the_files_it_could_not_use(runs):
    result = invoke("history")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("kv-cache-exhaustion", "interactive", "fail", "25%", "85%", "12 s",
                 "38 s", "no score", "Ann, bob"):
        assert text in out, text
    assert re.search(r"^no score: .*20261203-110000-cccc/score\.json: not written", out, re.M)
    assert re.search(r"^broken: .*20261203-120000-dddd/score\.json: not readable JSON", out,
                     re.M)
    assert "eeee" not in out  # a plain `gameday up` run is not a drill
    rows = json.loads(invoke("history", "--json", "--team", "bob").stdout)
    assert [r["run_id"][-4:] for r in rows] == ["bbbb", "dddd"]


def test_the_trend_is_a_png_of_the_scored_drills(runs, tmp_path):
    result = invoke("history", "--chart", "trend.png")
    assert result.exit_code == 0, result.output
    assert "wrote trend.png" in result.stdout
    assert (tmp_path / "trend.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(Exception, match="no scored drill to draw"):
        draw_trend([r for r in history_rows(runs) if r["status"] != "scored"],
                   tmp_path / "x.png")
    bad = invoke("history", "--chart", "trend.svg")
    assert bad.exit_code == 2 and "--chart: expected a .png file name" in bad.output


def test_a_drill_with_only_its_run_id_is_dated_by_it(tmp_path):
    run = Run(tmp_path / "20261203-090000-ffff")
    run.path.mkdir()
    run.timeline.write_text("not json\n")  # a torn line: skipped, no event to date it
    rows = history_rows(tmp_path)
    assert [(r["date"], r["status"]) for r in rows] == [("2026-12-03 09:00", "no score")]


def test_a_missing_runs_folder_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fresh = invoke("history")  # no drill here yet: nothing to list, not an error
    assert fresh.exit_code == 0 and "no drills yet" in fresh.stdout
    result = invoke("history", "--runs-dir", "nope")
    assert result.exit_code == 2
    assert "--runs-dir: no such folder 'nope'" in result.output


# -- gameday drill new ---------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.delenv(resources.HOME_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert invoke("init", ".").exit_code == 0
    return tmp_path


def test_drill_new_writes_a_scenario_from_the_template_that_validates(workspace):
    result = invoke("drill", "new", "my-first-scenario")
    assert result.exit_code == 0, result.output
    path = workspace / "experiments" / "my-first-scenario.json"
    assert f"wrote experiments/{path.name}" in result.stdout
    assert "gameday drill show my-first-scenario" in result.stdout
    scenario = parse_scenario(path)
    assert scenario.name == "my-first-scenario"
    block = next(e for e in json.loads(path.read_text())["extensions"]
                 if e["name"] == "gameday")
    assert block["scenario"] == "my-first-scenario"
    shown = invoke("drill", "show", "my-first-scenario")
    assert shown.exit_code == 0 and "Some classify requests fail (my-first-scenario" in \
        shown.stdout
    assert "my-first-scenario" in invoke("drill", "list", "--json").stdout


def test_the_template_passes_chaos_validate_and_the_extension_schema(workspace):
    from tests.unit.test_experiments import SCHEMA, gameday_extension, schema_errors

    assert invoke("drill", "new", "checked").exit_code == 0
    path = workspace / "experiments" / "checked.json"
    assert schema_errors(gameday_extension(json.loads(path.read_text())), SCHEMA) == []
    out = subprocess.run([str(CHAOS), "--no-log-file", "validate", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_drill_new_copies_a_scenario_with_its_name_and_title_changed(workspace):
    result = invoke("drill", "new", "kv-again", "--from", "kv-cache-exhaustion")
    assert result.exit_code == 0, result.output
    copied = json.loads((workspace / "experiments" / "kv-again.json").read_text())
    original = json.loads((workspace / "experiments" / "kv-cache-exhaustion.json").read_text())
    assert copied["method"] == original["method"]
    block = next(e for e in copied["extensions"] if e["name"] == "gameday")
    assert block["scenario"] == "kv-again"
    assert block["title"] == "Nowhere to put the tokens (kv-again)"
    titled = invoke("drill", "new", "kv-three", "--from", "kv-cache-exhaustion",
                    "--title", "Slots, again")
    assert titled.exit_code == 0 and parse_scenario(
        workspace / "experiments" / "kv-three.json").title == "Slots, again"


def test_drill_new_refuses_to_overwrite_without_force(workspace):
    path = workspace / "experiments" / "mine.json"
    assert invoke("drill", "new", "mine").exit_code == 0
    path.write_text("edited")
    again = invoke("drill", "new", "mine")
    assert again.exit_code == 2
    assert "experiments/mine.json: already exists; pass --force" in again.output
    assert path.read_text() == "edited"
    assert invoke("drill", "new", "mine", "--force").exit_code == 0
    assert parse_scenario(path).name == "mine"


@pytest.mark.parametrize("name", ["Mine", "my_scenario", "x-", "a--b", "../x", "x" * 65, ""])
def test_drill_new_refuses_bad_names(workspace, name):
    before = sorted((workspace / "experiments").rglob("*"))
    result = invoke("drill", "new", name)
    assert result.exit_code == 2
    assert "NAME: lowercase letters and digits in words joined by '-'" in result.output
    assert sorted((workspace / "experiments").rglob("*")) == before


def test_drill_new_needs_a_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv(resources.HOME_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    result = invoke("drill", "new", "mine")
    assert result.exit_code == 2
    assert "no experiments found" in result.output and "gameday init" in result.output
    unknown = invoke("drill", "new", "mine", "--from", "nope")
    assert unknown.exit_code == 2


def test_the_console_shows_the_same_rows_without_the_running_drill(runs):
    """The console's history is read by the same function as ``gameday history``; the drill
    still running (here the unscored wheel) joins only once it is over."""
    from gameday.drill.console import Console
    from gameday.drill.console.snapshot import MetricsFeed
    from gameday.listener import Reply, Request

    over = {"now": False}
    running = runs / "20261203-110000-cccc"
    console = Console(lambda: running, lambda request: Reply(200, {}),
                      MetricsFeed(lambda: None), lambda: over["now"])
    ask = Request("GET", "/console/api/history", "", {"authorization": "Bearer R"})
    assert console(Request("GET", "/console/api/history", "", {}), None).status == 401
    shown = console(ask, "responder").body["rows"]
    expected = [r for r in history_rows(runs) if r["run_id"] != running.name]
    assert [r["run_id"] for r in shown] == [r["run_id"] for r in expected]
    for mine, theirs in zip(shown, expected, strict=True):
        for key in ("score_percent", "ttd_s", "ttm_s", "ttr_s", "verdict", "status"):
            assert mine[key] == theirs[key], key
    assert "path" not in shown[0] and "problem" not in shown[0]
    over["now"] = True
    shown = console(ask, "responder").body["rows"]
    assert running.name in [r["run_id"] for r in shown]
