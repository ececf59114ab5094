"""`gameday down` and `status` over the stack registry, without starting processes: the
registered stacks are held by this test process (alive), their states written by hand."""

import json
import os
import time

import pytest
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.stack.registry import register_run
from gameday.stack.state import ProcessState, StackState, write_state

runner = CliRunner()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def running(kind, ports):
    run = register_run(kind, ports=ports if kind == "up" else ())
    now = time.time()
    write_state(run.state_path, StackState(
        run_id=run.id, run_dir=str(run.path), supervisor_pid=os.getpid(), status="running",
        started_at=now, updated_at=now,
        processes=[ProcessState(name="gateway", replica=0, url=f"http://127.0.0.1:{ports[0]}",
                                port=ports[0], state="ready")]))
    return run


def test_down_names_a_drill_s_stack_instead_of_stopping_it():
    drill = running("drill", [18201])
    result = runner.invoke(app, ["down"])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        "1 stack(s) running; nothing stopped:",
        f"  run {drill.id} (a drill's own stack, pid {os.getpid()}, ports 18201) [current]: "
        f"a drill is using it; 'gameday down --run {drill.id}' ends that drill as Ctrl-C "
        f"would (it still writes its report)"]
    assert result.stderr == ("error: name the stack to stop with 'gameday down --run ID', "
                             "or stop every one with 'gameday down --all'\n")


def test_status_lists_every_live_stack():
    up = running("up", [18210, 18211])
    drill = running("drill", [18220])
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert f"run {drill.id}: running" in result.stdout  # the current run's table
    tail = result.stdout.splitlines()[-3:]
    assert tail[0] == "2 stack(s) running:"
    assert tail[1] == (f"  run {up.id} (gameday up, pid {os.getpid()}, ports 18210-18211): "
                       f"stop with 'gameday down --run {up.id}'")
    assert tail[2].startswith(f"  run {drill.id} (a drill's own stack, pid {os.getpid()}, "
                              f"ports 18220) [current]: ")
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert [(r["run_id"], r["kind"], r["ports"], r["current"]) for r in data["live_runs"]] == \
        [(up.id, "up", "18210-18211", False), (drill.id, "drill", "18220", True)]


def test_status_of_the_only_stack_lists_nothing_more():
    running("up", [18230])
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0 and "stack(s) running" not in result.stdout


def test_down_of_a_stack_still_starting_says_so():
    run = register_run("up", ports=[18240])  # registered, no stack.json yet
    result = runner.invoke(app, ["down", "--run", run.id])
    assert result.exit_code == 1
    assert result.stderr == (f"error: run {run.id} is still starting (its supervisor has not "
                             f"written stack.json yet); run 'gameday down' again in a "
                             f"moment\n")
