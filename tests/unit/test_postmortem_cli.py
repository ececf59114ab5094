"""``gameday postmortem new|lint`` through the Typer app: output and exit codes."""

import json

from typer.testing import CliRunner

from gameday.cli.main import app
from tests.unit.test_postmortem_lint import CLEAN
from tests.unit.test_postmortem_render import make_run

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["postmortem", *map(str, args)])


def test_new_writes_the_draft_then_refuses_to_overwrite(tmp_path):
    run = make_run(tmp_path / "run")
    result = invoke("new", "--run", run)
    assert result.exit_code == 0, result.output
    draft = run / "postmortem.md"
    assert f"wrote {draft}" in result.output
    draft.write_text("people's edits\n")
    result = invoke("new", "--run", run)
    assert result.exit_code == 2
    assert f"{draft}: already exists; pass --force to overwrite it" in result.output
    assert draft.read_text() == "people's edits\n"
    result = invoke("new", "--run", run, "--force")
    assert result.exit_code == 0
    assert draft.read_text().startswith("# Postmortem:")


def test_new_with_out_and_notes(tmp_path):
    run = make_run(tmp_path / "run", score=None)
    out = tmp_path / "pm.md"
    result = invoke("new", "--run", run, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.is_file() and not (run / "postmortem.md").exists()
    assert "note: score.json: not in the run folder" in result.output


def test_new_with_a_bad_run(tmp_path):
    result = invoke("new", "--run", tmp_path / "missing")
    assert result.exit_code == 2
    assert "missing: no such run folder" in result.output
    run = make_run(tmp_path / "run")
    (run / "timeline.jsonl").write_text('{"ts": 1, "kind": "ack"}\n[1, 2]\n')
    result = invoke("new", "--run", run)  # a bad line is skipped and named, not fatal
    assert result.exit_code == 0, result.output
    assert "timeline.jsonl:2: expected a JSON object, got list; line skipped" in result.output
    assert (run / "postmortem.md").exists()


def test_draft_lints_clean_with_allow_prompts_only(tmp_path):
    run = make_run(tmp_path / "run")
    assert invoke("new", "--run", run).exit_code == 0
    draft = run / "postmortem.md"
    result = invoke("lint", draft)
    assert result.exit_code == 1
    assert "error[prompt]" in result.output
    result = invoke("lint", draft, "--allow-prompts")
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_lint_exit_codes_and_json(tmp_path):
    clean = tmp_path / "clean.md"
    clean.write_text(CLEAN)
    assert invoke("lint", clean).exit_code == 0
    warned = tmp_path / "warned.md"
    warned.write_text(CLEAN.replace("Traffic was low.", "It was human error."))
    result = invoke("lint", warned)
    assert result.exit_code == 0
    assert f"{warned}:" in result.output and "warning[blame]" in result.output
    broken = tmp_path / "broken.md"
    broken.write_text(CLEAN.replace("| prevent | bob |", "| prevent |  |"))
    result = invoke("lint", broken, "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["errors"] == 1 and body["warnings"] == 0
    assert body["findings"][0]["code"] == "action-owner"
    assert body["findings"][0]["level"] == "error"
    result = invoke("lint", tmp_path / "nothere.md")
    assert result.exit_code == 2
    assert "nothere.md: no such file" in result.output
