"""`gameday incident --url/--token-file` errors, and a wheel's sealed chaos side."""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.drill.experiment import ExperimentProcess
from gameday.runfolder import SEALED_ENV, create_run, sealed_dir
from gameday.timeline import append_event, read_events

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("GAMEDAY_DRILL_URL", "GAMEDAY_TOKEN_FILE", "GAMEDAY_RUN", SEALED_ENV):
        monkeypatch.delenv(name, raising=False)


def invoke(tmp_path, *args, env=None):
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        return runner.invoke(app, ["incident", *args], env=env)
    finally:
        os.chdir(old)


def token_file(tmp_path, mode=0o600, text="s3cret-token\n"):
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_no_run_folder_and_no_url_says_how_to_pass_them(tmp_path):
    result = invoke(tmp_path, "status")
    assert result.exit_code != 0
    assert "--url URL --token-file FILE" in result.output
    assert "$GAMEDAY_DRILL_URL" in result.output


def test_url_without_token_file_and_token_file_without_url(tmp_path):
    token = token_file(tmp_path)
    no_token = invoke(tmp_path, "ack", "--url", "http://127.0.0.1:9")
    assert no_token.exit_code != 0 and "pass --token-file FILE" in no_token.output
    no_url = invoke(tmp_path, "ack", "--token-file", str(token))
    assert no_url.exit_code != 0 and "pass --url URL" in no_url.output
    bad = invoke(tmp_path, "ack", "--url", "127.0.0.1:9", "--token-file", str(token))
    assert "--url: expected http://HOST:PORT, got '127.0.0.1:9'" in bad.output


def test_a_token_file_others_can_read_is_refused_and_never_echoed(tmp_path):
    token = token_file(tmp_path, mode=0o644)
    result = invoke(tmp_path, "note", "hi", "--url", "http://127.0.0.1:9",
                    "--token-file", str(token))
    assert result.exit_code != 0
    assert f"mode 0644 lets others read the drill's token; run 'chmod 600 {token}'" \
        in result.output
    assert "s3cret" not in result.output
    missing = invoke(tmp_path, "note", "hi", "--url", "http://127.0.0.1:9",
                     "--token-file", str(tmp_path / "nope"))
    assert "cannot read it" in missing.output


def test_env_vars_stand_for_the_options(tmp_path):
    token = token_file(tmp_path)
    result = invoke(tmp_path, "status", env={"GAMEDAY_DRILL_URL": "http://127.0.0.1:9",
                                             "GAMEDAY_TOKEN_FILE": str(token)})
    assert result.exit_code != 0
    assert "drill controller at http://127.0.0.1:9 not reachable" in result.output
    assert "s3cret" not in result.output


def test_a_sealed_chaos_side_joins_the_run_at_reveal(tmp_path, monkeypatch):
    run = create_run(tmp_path / ".gameday")
    experiment = tmp_path / "secret-scenario.json"
    experiment.write_text("{}")
    proc = ExperimentProcess(experiment, {}, run.path, sealed=True)
    assert proc.out == sealed_dir(run) and proc.journal.name == "experiment-journal.json"
    proc.out.mkdir(parents=True, mode=0o700)
    append_event(run.path, "run_start", who="drill", ts=1.0)
    monkeypatch.setenv(SEALED_ENV, str(proc.out))  # what the chaos process is given
    append_event(run.path, "fault_start", who="chaos", ts=2.0, fault={"type": "error"})
    monkeypatch.delenv(SEALED_ENV)
    proc.journal.write_text(json.dumps({"title": "secret"}))
    append_event(run.path, "page", who="drill", ts=3.0)
    assert [e["kind"] for e in read_events(run.path)] == ["run_start", "page"]
    assert not any(run.path.rglob("*journal*"))
    assert stat.S_IMODE(sealed_dir(run).stat().st_mode) == 0o700

    assert proc.reveal() == 1
    assert [e["kind"] for e in read_events(run.path)] == ["run_start", "fault_start", "page"]
    assert (run.chaos_dir / "experiment-journal.json").exists()
    assert not sealed_dir(run).parent.exists() and proc.journal.parent == run.chaos_dir
    assert proc.reveal() == 0  # once only
