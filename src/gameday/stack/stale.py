"""What a run leaves behind when whoever ran it died (SIGKILL, a crash, a lost terminal).

The stack registry (``stack/registry.py``) calls ``clean_stale`` on every registered run whose
holder is gone, whenever ``gameday up``, ``down`` or a drill reads it: a run
whose ``stack.json`` still says starting/running but whose supervisor is gone. Leftover
processes of that run are killed, but only those that prove they belong to it: their
command line or environment names the run folder (services get their faults file there,
``chaos run`` gets ``$GAMEDAY_RUN``, Locust writes its stats there). The state is then
marked failed, so that nobody mistakes it for a live stack.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from gameday.runfolder import Run
from gameday.stack.process import pid_alive
from gameday.stack.state import StackState, write_state

LIVE = ("starting", "running", "stopping")


def belongs_to(pid: int, run_path: Path) -> bool:
    """True when process ``pid`` has ``run_path`` in its environment (services, chaos), or is
    a Locust whose command line names it (never, say, a ``tail -f`` of one of its logs)."""
    marker = str(run_path).encode()
    try:
        if marker in Path(f"/proc/{pid}/environ").read_bytes():
            return True
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return marker in cmdline and b"locust" in cmdline


def run_processes(run_path: Path) -> list[int]:
    """Every live process (not this one) that belongs to the run."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() \
                and belongs_to(int(entry.name), run_path):
            found.append(int(entry.name))
    return sorted(found)


def is_stale(state: StackState) -> bool:
    return state.status in LIVE and not state.external and not pid_alive(state.supervisor_pid)


def clean_stale(run: Run, state: StackState, wait_s: float = 3.0) -> list[int]:
    """Kill what is left of a dead run and mark it failed; the pids that were killed."""
    if not is_stale(state):
        return []
    left = run_processes(run.path)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and any(pid_alive(p) for p in left):
        time.sleep(0.05)
    state.status = "failed"
    state.error = (f"supervisor (pid {state.supervisor_pid}) died without stopping; "
                   f"cleaned up by a later gameday command ({len(left)} leftover process(es))")
    for p in state.processes:
        if p.state in ("starting", "ready", "backoff"):
            p.state, p.pid = "stopped", None
    state.updated_at = time.time()
    write_state(run.state_path, state)
    return left

