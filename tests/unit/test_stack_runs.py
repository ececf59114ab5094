import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gameday
from gameday.errors import NotFoundError, ValidationError
from gameday.runfolder import REGISTRY_FILE, create_run, find_run, new_run_id, resolve_run
from gameday.stack.process import pid_alive
from gameday.stack.registry import (
    claim_run,
    forget_run,
    live_stacks,
    register_run,
    sweep,
)
from gameday.stack.state import ProcessState, StackState, read_state, write_state


def test_run_id_is_utc_stamp_plus_random():
    assert new_run_id(0).startswith("19700101-000000-")
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", new_run_id())


def test_create_run_layout_and_token_mode(tmp_path):
    home = tmp_path / ".gameday"
    run = create_run(home)
    assert run.path.parent == home / "runs"
    for d in (run.logs_dir, run.faults_dir, run.control_dir):
        assert d.is_dir()
    mode = stat.S_IMODE(run.token_path.stat().st_mode)
    assert mode == 0o600
    assert len(run.token()) >= 32
    assert (home / "current").read_text().strip() == run.id
    assert run.log_path("classifier", 1) == run.logs_dir / "classifier-1.log"
    assert run.faults_path("llm", 0) == run.faults_dir / "llm-0.json"


def test_token_file_mode_stays_0600_with_a_loose_umask(tmp_path):
    import os

    old = os.umask(0)
    try:
        run = create_run(tmp_path / ".gameday")
    finally:
        os.umask(old)
    assert stat.S_IMODE(run.token_path.stat().st_mode) == 0o600


def test_find_current_and_by_id(tmp_path):
    home = tmp_path / ".gameday"
    first = create_run(home)
    second = create_run(home)
    assert find_run(home=home) == second
    assert find_run(first.id, home=home) == first
    assert resolve_run(first.path) == first
    assert resolve_run(first) == first


def test_find_errors_name_what_is_missing(tmp_path):
    home = tmp_path / ".gameday"
    with pytest.raises(NotFoundError, match=r"no gameday run in .*start one with 'gameday up'"):
        find_run(home=home)
    create_run(home)
    with pytest.raises(NotFoundError, match="run '20990101-000000-ffff' not found"):
        find_run("20990101-000000-ffff", home=home)
    with pytest.raises(ValidationError, match=r"--run: not a run id, got '\.\./x'"):
        find_run("../x", home=home)


def test_gameday_run_env_names_the_run(tmp_path, monkeypatch):
    from gameday.runfolder import resolve_run

    folder = tmp_path / "somewhere" / "20261127-000000-abcd"
    folder.mkdir(parents=True)
    monkeypatch.setenv("GAMEDAY_RUN", str(folder))
    assert resolve_run().path == folder
    assert resolve_run(str(folder)).path == folder  # a path given as text
    monkeypatch.delenv("GAMEDAY_RUN")
    import pytest as _pytest

    from gameday.errors import NotFoundError
    with _pytest.raises(NotFoundError):
        resolve_run(None, home=tmp_path / "nothing")


# -- the registry of live stacks (stack/registry.py) -----------------------------------------
def _state(run, pid, status="running", ports=()):
    now = time.time()
    return StackState(run_id=run.id, run_dir=str(run.path), supervisor_pid=pid, status=status,
                      started_at=now, updated_at=now,
                      processes=[ProcessState(name="gateway", replica=i, port=p, state="ready",
                                              url=f"http://127.0.0.1:{p}")
                                 for i, p in enumerate(ports)])


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_registry_refuses_ports_a_live_stack_holds(tmp_path):
    home = tmp_path / ".gameday"
    first = register_run("up", home, ports=range(18080, 18085), base_port=18080)
    assert find_run(home=home) == first  # still the current run
    with pytest.raises(ValidationError) as err:
        register_run("up", home, ports=range(18084, 18089))
    assert str(err.value) == (
        f"ports 18084 are taken by run {first.id} (gameday up, pid {os.getpid()}); stop it "
        f"with 'gameday down --run {first.id}', or pick other ports with --base-port N or "
        f"--free-ports")
    drill = register_run("drill", home)  # free ports: beside it
    assert [(s.run_id, s.kind, s.current) for s in live_stacks(home)] == \
        [(first.id, "up", False), (drill.id, "drill", True)]
    assert len(list((home / "runs").iterdir())) == 2  # the refused one left no folder


def test_registry_drops_stacks_whose_holder_is_gone_or_stopped(tmp_path):
    home = tmp_path / ".gameday"
    dead = register_run("up", home, ports=[18090], pid=_dead_pid())
    stopped = register_run("drill", home)
    write_state(stopped.state_path, _state(stopped, 1, status="stopped"))
    reused = register_run("up", home)
    book = json.loads((home / REGISTRY_FILE).read_text())
    entry = next(e for e in book["stacks"] if e["run_id"] == reused.id)
    entry["pid_start"] += 1  # same pid, another process: not the holder
    (home / REGISTRY_FILE).write_text(json.dumps(book))
    kept = register_run("up", home, ports=[18090])  # the dead one's port is free again
    assert [s.run_id for s in live_stacks(home)] == [kept.id]
    assert [e["run_id"] for e in json.loads((home / REGISTRY_FILE).read_text())["stacks"]] \
        == [kept.id]
    assert {dead.id, reused.id}.isdisjoint(s.run_id for s in live_stacks(home))
    claim_run(kept, pid=1)  # the detached supervisor takes over (pid 1 lives)
    assert live_stacks(home)[0].pid == 1
    forget_run(kept)
    assert live_stacks(home) == []


def test_registry_cleans_a_run_left_running_by_a_dead_supervisor(tmp_path):
    home = tmp_path / ".gameday"
    supervisor = _dead_pid()
    run = register_run("drill", home, pid=supervisor)
    write_state(run.state_path, _state(run, supervisor, ports=[18100]))
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                env={"GAMEDAY_FAULTS_FILE": str(run.faults_path("x", 0))})
    try:
        assert live_stacks(home, clean=False) == []  # a read-only look touches nothing
        assert read_state(run.state_path).status == "running" and pid_alive(leftover.pid)
        live, cleaned = sweep(home)
        assert live == [] and [(s.run_id, pids) for s, pids in cleaned] == \
            [(run.id, [leftover.pid])]
        leftover.wait(5)
        state = read_state(run.state_path)
        assert state.status == "failed"
        assert state.error.startswith(f"supervisor (pid {supervisor}) died without stopping")
        assert sweep(home) == ([], [])  # once
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()


def test_registry_adopts_a_running_current_run_nobody_registered(tmp_path):
    home = tmp_path / ".gameday"
    old = create_run(home)  # as a gameday from before the registry left it
    write_state(old.state_path, _state(old, os.getpid(), ports=[18110]))
    assert [(s.run_id, s.kind, s.current) for s in live_stacks(home)] == [(old.id, "up", True)]
    with pytest.raises(ValidationError, match=f"ports 18110 are taken by run {old.id}"):
        register_run("up", home, ports=[18110])


REGISTER = """
import sys, time
sys.path.insert(0, {src!r})
from pathlib import Path
from gameday.errors import GamedayError
from gameday.stack.registry import register_run
while time.time() < {at}:
    time.sleep(0.001)
try:
    run = register_run("up", Path({home!r}), ports=range(18120, 18125))
    print("registered", run.id, flush=True)
except GamedayError as err:
    print("refused", err, flush=True)
time.sleep(2)  # stay alive: a live holder, while the others look
"""


def test_registry_lock_lets_one_of_many_concurrent_registrations_through(tmp_path):
    """Six processes register the same ports at the same instant: one gets them."""
    home = tmp_path / ".gameday"
    script = REGISTER.format(src=str(Path(gameday.__file__).parents[1]), home=str(home),
                             at=time.time() + 1.5)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True) for _ in range(6)]
    outs = [p.communicate(timeout=30)[0] for p in procs]
    registered = [o for o in outs if o.startswith("registered")]
    assert len(registered) == 1, outs
    winner = registered[0].split()[1]
    refused = [o for o in outs if o.startswith("refused")]
    assert len(refused) == 5, outs
    assert all(f"ports 18120-18124 are taken by run {winner}" in o for o in refused), outs
    assert [p.name for p in (home / "runs").iterdir()] == [winner]
