"""Every live stack of a folder, on real processes: `up` refuses taken ports, `down` misses
none (issue 16 item 7)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gameday.stack import launch_detached
from gameday.stack.plan import port_in_use
from gameday.stack.process import pid_alive
from gameday.stack.state import read_state
from tests.integration.test_stack import (
    dummy_spec,
    gameday,
    needs_services,
    status_json,
    wait_gone,
)
from tests.procs import ROOT

# A stack the way a drill starts its own (drill/stacks.py): stack.local.Stack on free ports,
# supervised in a thread of the drill's process; SIGTERM ends the drill as Ctrl-C does.
DRILL = textwrap.dedent("""
    import json, signal, sys, threading, time
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from tests.integration.test_stack import dummy_spec
    from gameday.stack import Stack
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    stack = Stack(dummy_spec(), home=Path({home!r}), kind={kind!r}).start()
    print(json.dumps({{"run": stack.run.id,
                      "pids": [p.pid for p in stack.state().processes]}}), flush=True)
    stop.wait({life})
    stack.stop()
    time.sleep(0.5)  # the drill writes its report after its stack stopped
    print("drill over", flush=True)
""")


class Drill:
    def __init__(self, cwd: Path, life: float = 120, kind: str = "drill") -> None:
        script = DRILL.format(root=str(ROOT), home=str(cwd / ".gameday"), life=life,
                              kind=kind)
        self.proc = subprocess.Popen([sys.executable, "-c", script], cwd=cwd,
                                     stdout=subprocess.PIPE, text=True)
        started = json.loads(self.proc.stdout.readline())
        self.run, self.pids = started["run"], started["pids"]

    def all_pids(self) -> list[int]:
        return self.pids + [self.proc.pid]

    def finish(self, timeout: float = 20) -> str:
        out, _ = self.proc.communicate(timeout=timeout)
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def stack_pids(data: dict) -> list[int]:
    return [data["supervisor_pid"]] + [p["pid"] for p in data["processes"] if p["pid"]]


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def free_base_port(count: int = 5) -> int:
    for _ in range(50):
        base = random.randrange(20000, 30000)
        if not any(port_in_use(p) for p in range(base, base + count)):
            return base
    raise RuntimeError("no 5 consecutive free ports")


@pytest.mark.slow
@needs_services
def test_two_concurrent_up_one_starts_one_exits_2_and_down_leaves_nothing(tmp_path):
    base = free_base_port()
    argv = [sys.executable, "-m", "gameday.cli.main", "up", "--detach", "--base-port",
            str(base)]
    procs = [subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    data = status_json(tmp_path)
    try:
        codes = sorted(p.returncode for p, _, _ in results)
        assert codes == [0, 2], results
        started = next(out for p, out, _ in results if p.returncode == 0)
        refused = next(err for p, _, err in results if p.returncode == 2)
        run = data["run_id"]
        assert "gameday stack ready" in started and f"(run {run})" in started
        # the pid: the other `up` that was starting it, or the supervisor it handed over to
        assert re.fullmatch(
            rf"error: ports {base}-{base + 4} are taken by run {run} \(gameday up, pid \d+\); "
            rf"stop it with 'gameday down --run {run}', or pick other ports with "
            rf"--base-port N or --free-ports", refused.strip()), refused
        assert [p.name for p in (tmp_path / ".gameday" / "runs").iterdir()] == [run]
        assert data["status"] == "running" and len(data["processes"]) == 5
        pids = stack_pids(data)
        down = gameday(tmp_path, "down")
        assert down.returncode == 0 and f"stopped run {run}: 5 processes stopped" \
            in down.stdout, down.stdout + down.stderr
        assert wait_gone(pids, 5) == []
        again = gameday(tmp_path, "down")
        assert again.returncode == 0 and f"nothing running: run {run} is stopped" \
            in again.stdout
    finally:
        kill_all(stack_pids(data))


@pytest.mark.slow
@needs_services
def test_down_names_every_stack_then_stops_a_drill_s_and_all(tmp_path):
    up = gameday(tmp_path, "up", "--detach", "--free-ports", timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    data = status_json(tmp_path)
    drills = []
    try:
        drills = [Drill(tmp_path), Drill(tmp_path)]
        everything = stack_pids(data) + [p for d in drills for p in d.all_pids()]

        listed = gameday(tmp_path, "down")
        assert listed.returncode == 2, listed.stdout + listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0] == "3 stack(s) running; nothing stopped:"
        assert lines[1].startswith(f"  run {data['run_id']} (gameday up, pid "
                                   f"{data['supervisor_pid']}, ports ")
        assert lines[1].endswith(f": stop with 'gameday down --run {data['run_id']}'")
        for line, d in zip(lines[2:], drills, strict=True):
            assert line.startswith(f"  run {d.run} (a drill's own stack, pid {d.proc.pid}")
            assert f"'gameday down --run {d.run}' ends that drill as Ctrl-C would" in line
        assert " [current]: " in lines[3] and " [current]" not in lines[1] + lines[2]
        assert listed.stderr.strip() == ("error: name the stack to stop with 'gameday down "
                                         "--run ID', or stop every one with 'gameday down "
                                         "--all'")
        assert all(pid_alive(p) for p in everything)  # nothing was stopped

        shown = gameday(tmp_path, "status")
        assert shown.returncode == 0 and "3 stack(s) running:" in shown.stdout
        assert all(f"run {r} (" in shown.stdout for r in
                   [data["run_id"], drills[0].run, drills[1].run])
        live = json.loads(gameday(tmp_path, "status", "--json").stdout)["live_runs"]
        assert [(x["run_id"], x["kind"]) for x in live] == \
            [(data["run_id"], "up"), (drills[0].run, "drill"), (drills[1].run, "drill")]

        one = gameday(tmp_path, "down", "--run", drills[0].run)
        assert one.returncode == 0, one.stdout + one.stderr
        assert f"run {drills[0].run} is a drill's own stack (pid {drills[0].proc.pid}): " \
               f"stopping it ends that drill as Ctrl-C would" in one.stdout
        assert f"stopped run {drills[0].run}: 3 processes stopped" in one.stdout
        assert "drill over" in drills[0].finish() and drills[0].proc.returncode == 0
        assert wait_gone(drills[0].all_pids(), 3) == []
        assert read_state(tmp_path / ".gameday" / "runs" / drills[0].run /
                          "stack.json").status == "stopped"

        both = gameday(tmp_path, "down", "--all", timeout=90)
        assert both.returncode == 0, both.stdout + both.stderr
        assert f"stopped run {data['run_id']}: 5 processes stopped" in both.stdout
        assert f"stopped run {drills[1].run}: 3 processes stopped" in both.stdout
        drills[1].finish()
        assert wait_gone(everything, 5) == []
        after = gameday(tmp_path, "down")
        assert after.returncode == 0 and "nothing running" in after.stdout
    finally:
        for d in drills:
            d.kill()
        kill_all(stack_pids(data))


def test_down_after_a_drill_stops_the_up_stack_it_ran_beside(tmp_path):
    """`up --detach`, then a drill's own stack (the current run now) that ends: `down` stops
    the `up` stack instead of saying 'nothing running'."""
    run, state = launch_detached(dummy_spec(), home=tmp_path / ".gameday")
    pids = [state.supervisor_pid] + [p.pid for p in state.processes]
    try:
        drill = Drill(tmp_path, life=0)
        assert "drill over" in drill.finish()
        assert (tmp_path / ".gameday" / "current").read_text().strip() == drill.run
        down = gameday(tmp_path, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert f"stopped run {run.id}: 3 processes stopped" in down.stdout
        assert wait_gone(pids + drill.all_pids(), 3) == []
    finally:
        kill_all(pids)


def test_down_all_stops_an_up_stack_and_one_inside_another_process(tmp_path):
    run, state = launch_detached(dummy_spec(), home=tmp_path / ".gameday")
    pids = [state.supervisor_pid] + [p.pid for p in state.processes]
    other = None
    try:
        other = Drill(tmp_path, kind="process")  # as `gameday tour` or a script runs one
        listed = gameday(tmp_path, "down")
        assert listed.returncode == 2
        assert f"  run {other.run} (a stack inside another command or script, pid " \
               f"{other.proc.pid}, ports " in listed.stdout
        assert f"'gameday down --run {other.run}' stops it and ends that process" \
            in listed.stdout
        stopped = gameday(tmp_path, "down", "--all")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert f"stopped run {run.id}: 3 processes stopped" in stopped.stdout
        assert f"stopped run {other.run}: 3 processes stopped" in stopped.stdout
        assert "drill over" in other.finish()
        assert wait_gone(pids + other.all_pids(), 3) == []
    finally:
        if other is not None:
            other.kill()
        kill_all(pids)


def test_a_killed_drill_s_stack_is_cleaned_by_the_next_down(tmp_path):
    drill = Drill(tmp_path)
    drill.kill()  # SIGKILL: nobody left to say its stack stopped
    assert wait_gone(drill.pids, 3) == []  # its services died with it
    state_path = tmp_path / ".gameday" / "runs" / drill.run / "stack.json"
    assert read_state(state_path).status == "running"
    down = gameday(tmp_path, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stdout.splitlines() == [
        f"run {drill.run} was left running by a supervisor that died (pid {drill.proc.pid}): "
        f"marked failed, 0 leftover process(es) stopped",
        f"nothing running: run {drill.run} is failed"]
    assert read_state(state_path).status == "failed"
