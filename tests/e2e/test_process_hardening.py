"""Processes under abuse: a drill runner killed with SIGKILL mid-fault leaves nothing behind
(its children die, faults end by their TTL at the latest, the next `gameday up` cleans the
stale run), with its own stack and attached to one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gameday.stack.process import pid_alive
from gameday.stack.stale import run_processes
from tests.e2e.test_drill import FIXTURE, gameday, run_folder, wait_for


def start_drill(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gameday.cli.main", "drill", "run",
                             str(FIXTURE), *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def drill_run(cwd: Path, attached: Path | None = None):
    runs = cwd / ".gameday" / "runs"

    def find():
        if not runs.exists():
            return None
        found = [r for r in runs.iterdir() if r != attached and (r / "timeline.jsonl").exists()]
        return found[0] if found else attached
    return find


def drill_children(run: Path) -> list[int]:
    """The drill's own Locust and its `chaos run` (both name the run folder)."""
    pids = [json.loads(m.read_text())["pid"] for m in (run / "load").glob("*/load.json")]
    for pid in run_processes(run):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"chaos" in cmdline:
            pids.append(pid)
    return pids


def wait_dead(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if pid_alive(p)]
        if not alive:
            return []
        time.sleep(0.1)
    return [p for p in pids if pid_alive(p)]


@pytest.mark.slow
def test_sigkill_of_a_drill_with_its_own_stack_leaves_no_process(tmp_path):
    proc = start_drill(tmp_path)
    try:
        wait_for(drill_run(tmp_path), "fault_start", 150)
        run = run_folder(tmp_path)
        children = drill_children(run)
        assert children, "expected the drill's Locust and chaos processes"
        before = run_processes(run)
        proc.kill()
        proc.wait(10)
        t0 = time.monotonic()
        left = wait_dead(before + children, 10)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"\nSIGKILL of the drill: {len(before + children)} processes gone in {took:.1f} s")
    assert left == [], f"still alive 10 s after SIGKILL: {left}"
    state = json.loads((run / "stack.json").read_text())
    assert state["status"] == "running"  # nobody was left to say otherwise
    out = gameday(tmp_path, "up", "-d", "--free-ports", timeout=90).stdout
    try:
        assert f"run {run.name} was left running by a supervisor that died" in out, out
        assert json.loads((run / "stack.json").read_text())["status"] == "failed"
    finally:
        gameday(tmp_path, "down", timeout=60, check=False)


@pytest.mark.slow
def test_sigkill_of_an_attached_drill_mid_fault_faults_end_by_their_ttl(tmp_path):
    gameday(tmp_path, "up", "-d", "--free-ports", timeout=90)
    stack_run = run_folder(tmp_path)
    proc = start_drill(tmp_path, "--attach", stack_run.name, "--max-duration", "40s")
    try:
        wait_for(stack_run, "fault_start", 150)
        listed = json.loads(gameday(tmp_path, "faults", "list", "--json").stdout)
        faults = [f for p in listed for f in p["faults"]]
        assert faults, listed
        assert all(f["ttl_s"] <= 60 for f in faults), faults  # the fixture's TTL
        children = drill_children(stack_run)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        t0 = time.monotonic()
        assert wait_dead(children, 10) == [], "the drill's Locust or chaos outlived it"
        while time.monotonic() - t0 < 65:
            listed = json.loads(gameday(tmp_path, "faults", "list", "--json").stdout)
            if not any(p["faults"] for p in listed):
                break
            time.sleep(1)
        gone_after = time.monotonic() - t0
        print(f"\nattached drill SIGKILLed: its children gone, faults gone after "
              f"{gone_after:.1f} s (TTL 60 s)")
        assert not any(p["faults"] for p in listed), listed
        state = json.loads((stack_run / "stack.json").read_text())
        assert state["status"] == "running"  # the stack it attached to lives on
    finally:
        if proc.poll() is None:
            proc.kill()
        gameday(tmp_path, "down", timeout=60, check=False)
