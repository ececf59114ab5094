"""The fault client against a real service on loopback (examples/own_app.py under uvicorn),
through its three front doors: the client itself, ``gameday faults`` and the Chaos Toolkit
actions. Every change is on the run's timeline with who made it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from chaoslib.exceptions import ActivityFailed

from gameday.chaos import actions
from gameday.errors import StackError
from gameday.faults.client import FaultClient, validate_fault
from gameday.stack.state import ProcessState, StackState, write_state
from gameday.timeline import read_events
from tests.procs import TEST_TOKEN, start_own_app

RUN_ID = "20261203-120000-abcd"


@pytest.fixture(scope="module")
def service():
    proc, url = start_own_app()
    yield url
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def run(tmp_path, service) -> Path:
    """A run folder whose stack is the service above, its supervisor this test process."""
    path = tmp_path / ".gameday" / "runs" / RUN_ID
    path.mkdir(parents=True)
    (path / "token").write_text(TEST_TOKEN)
    port = int(service.rsplit(":", 1)[1])
    now = time.time()
    write_state(path / "stack.json", StackState(
        run_id=RUN_ID, run_dir=str(path), supervisor_pid=os.getpid(), status="running",
        started_at=now, updated_at=now,
        processes=[ProcessState(name="my-model", replica=0, url=service, port=port,
                                state="ready")]))
    yield path
    httpx.delete(service + "/admin/faults", timeout=5,
                 headers={"Authorization": f"Bearer {TEST_TOKEN}"})


def faults_of(run: Path, kind: str) -> list[dict]:
    return [e for e in read_events(run) if e["kind"] == kind]


def test_add_clear_and_remove_are_on_the_timeline_with_who(run):
    client = FaultClient.for_run(run, who="ann")
    body = validate_fault("my-model", "latency", {"delay_ms": 5}, ttl="30s")
    [(pid, fault)] = client.add("my-model", body)
    assert pid == "my-model-0" and fault["params"]["delay_ms"] == 5
    [start] = faults_of(run, "fault_start")
    assert start["who"] == "ann" and start["service"] == "my-model"
    assert start["fault"] == {"type": "latency", "params": fault["params"], "route": "/v1/*",
                              "probability": 1.0, "ttl_s": 30.0}
    assert start["fault_ids"] == [fault["id"]] and start["processes"] == ["my-model-0"]
    assert start["text"] == "ann injected a latency fault on my-model for 30s"
    assert client.list("my-model") == [("my-model-0", [fault])]

    assert client.clear() == [("my-model-0", 1)]
    [end] = faults_of(run, "fault_end")
    assert (end["who"], end["service"], end["cleared"]) == ("ann", None, 1)
    assert end["text"] == "ann cleared 1 fault(s) on every service"
    assert client.clear("my-model") == [("my-model-0", 0)]
    assert len(faults_of(run, "fault_end")) == 1  # nothing ended, nothing written

    [(_, second)] = client.add("my-model", body)
    assert client.remove("nosuch") == []
    assert client.remove(second["id"]) == ["my-model-0"]
    last = faults_of(run, "fault_end")[-1]
    assert last["fault_ids"] == [second["id"]] and last["service"] == "my-model"


def test_a_stack_that_is_not_running_is_refused(run):
    state = StackState.model_validate_json((run / "stack.json").read_text())
    write_state(run / "stack.json", state.model_copy(update={"status": "stopped"}))
    with pytest.raises(StackError, match=f"run {RUN_ID} is not running \\(stopped\\)"):
        FaultClient.for_run(run, who="ann")


def gameday(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gameday.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GAMEDAY_WHO": "bob"})


def test_gameday_faults_writes_the_timeline_as_the_user(run):
    cwd = run.parents[2]
    added = gameday(cwd, "faults", "add", "my-model", "latency", "-p", "delay_ms=5",
                    "--ttl", "45s", "--run", RUN_ID, "--who", "ann")
    assert added.returncode == 0, added.stderr
    assert "added latency fault" in added.stdout and "ttl 45s" in added.stdout
    too_long = gameday(cwd, "faults", "add", "my-model", "latency", "--ttl", "2h",
                       "--run", RUN_ID)
    assert too_long.returncode == 2 and "--ttl: at most 1h, got '2h'" in too_long.stderr
    cleared = gameday(cwd, "faults", "clear", "--run", RUN_ID)  # who: $GAMEDAY_WHO
    assert cleared.returncode == 0 and "cleared 1 fault(s)" in cleared.stdout
    [start], [end] = faults_of(run, "fault_start"), faults_of(run, "fault_end")
    assert (start["who"], start["fault"]["ttl_s"], start["service"]) == ("ann", 45.0,
                                                                        "my-model")
    assert (end["who"], end["cleared"]) == ("bob", 1)


def test_the_chaos_actions_use_the_same_client_as_chaos(run):
    with pytest.raises(ActivityFailed, match=r"^inject_fault: ttl: at most 1h, got '2h'$"):
        actions.inject_fault(service="my-model", fault_type="latency", ttl="2h", run=str(run))
    added = actions.inject_fault(service="my-model", fault_type="latency", ttl=20,
                                 params={"delay_ms": 5}, run=str(run))
    assert [f["process"] for f in added] == ["my-model-0"]
    assert actions.clear_faults(run=str(run)) == 1
    [start], [end] = faults_of(run, "fault_start"), faults_of(run, "fault_end")
    assert start["who"] == end["who"] == "chaos"
    assert start["fault_ids"] == [added[0]["id"]] and start["fault"]["ttl_s"] == 20.0
