"""Act on a running stack from any process, through its run folder.

These read ``<run>/stack.json`` to find pids, so Chaos Toolkit actions and the CLI can pause,
resume, kill or restart one replica of a service, or stop the whole stack::

    kill_process("classifier", 1)              # SIGKILL; the supervisor restarts it
    pause_process("llm", 0); resume_process("llm", 0)
    request_restart("gateway", 0)              # graceful restart, waits until ready again
    stop_stack()                               # what `gameday down` does
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from pathlib import Path

from gameday.errors import NotFoundError, StackError
from gameday.runfolder import Run, resolve_run
from gameday.stack.process import pid_alive, proc_stat
from gameday.stack.state import ProcessState, StackState, read_state

RunRef = Run | str | Path | None


def load_state(run: RunRef = None, home: Path | None = None) -> tuple[Run, StackState]:
    r = resolve_run(run, home)
    return r, read_state(r.state_path)


def supervisor_alive(state: StackState) -> bool:
    return state.status not in ("stopped", "failed") and pid_alive(state.supervisor_pid)


def refuse_external(state: StackState, what: str) -> None:
    """Raise when ``state`` is a stack gameday did not start: it has no supervisor to ask."""
    if state.external:
        raise StackError(f"run {state.run_id}: {what} runs outside gameday (--stack-file); "
                         f"gameday cannot signal, restart, scale or stop it: use what runs "
                         f"it (docker compose kill/restart/scale, or the experiments/k8s "
                         f"variants)")


def running_process(name: str, replica: int = 0, run: RunRef = None,
                    home: Path | None = None) -> tuple[StackState, ProcessState]:
    """The process as the state file knows it, checked to be a live child of the supervisor."""
    _, state = load_state(run, home)
    proc = state.find(name, replica)
    if not supervisor_alive(state):
        raise StackError(f"run {state.run_id}: supervisor (pid {state.supervisor_pid}) is not "
                         f"running; start the stack with 'gameday up'")
    refuse_external(state, proc.id)
    if proc.pid is None:
        raise StackError(f"{proc.id} has no running process (state {proc.state})")
    stat = proc_stat(proc.pid)
    if stat is not None and (stat[1] != state.supervisor_pid or stat[2] != proc.pid):
        raise StackError(f"{proc.id}: pid {proc.pid} is not a child of the supervisor "
                         f"(pid {state.supervisor_pid}); the state file is stale")
    return state, proc


def signal_process(name: str, replica: int = 0, sig: int | str = signal.SIGTERM,
                   run: RunRef = None, home: Path | None = None) -> int:
    """Send ``sig`` to one replica's process group; returns its pid."""
    if isinstance(sig, str):
        sig = parse_signal(sig)
    _, proc = running_process(name, replica, run, home)
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        raise StackError(f"{proc.id}: pid {proc.pid} is gone") from None
    return proc.pid


def parse_signal(text: str) -> int:
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise StackError(f"unknown signal {text!r}; for example SIGKILL, SIGTERM, "
                         f"SIGSTOP") from None


def kill_process(name: str, replica: int = 0, run: RunRef = None,
                 home: Path | None = None) -> int:
    return signal_process(name, replica, signal.SIGKILL, run, home)


def pause_process(name: str, replica: int = 0, run: RunRef = None,
                  home: Path | None = None) -> int:
    """SIGSTOP: the process stays alive but answers nothing, like a hung node."""
    return signal_process(name, replica, signal.SIGSTOP, run, home)


def resume_process(name: str, replica: int = 0, run: RunRef = None,
                   home: Path | None = None) -> int:
    return signal_process(name, replica, signal.SIGCONT, run, home)


def request_restart(name: str, replica: int = 0, run: RunRef = None, home: Path | None = None,
                    wait: bool = True, timeout: float = 30.0) -> ProcessState:
    """Ask the supervisor for a graceful restart; with ``wait``, return once ready again."""
    r, state = load_state(run, home)
    before = state.find(name, replica)
    refuse_external(state, before.id)
    if not supervisor_alive(state):
        raise StackError(f"run {state.run_id}: supervisor (pid {state.supervisor_pid}) is not "
                         f"running")
    r.control_dir.mkdir(exist_ok=True)
    body = json.dumps({"action": "restart", "name": name, "replica": replica,
                       "at": time.time()})
    tmp = r.control_dir / f".req-{secrets.token_hex(4)}"
    tmp.write_text(body)
    os.replace(tmp, r.control_dir / f"{time.time_ns()}-{secrets.token_hex(2)}.json")
    if not wait:
        return before
    return wait_for_process(
        name, replica, r, timeout,
        lambda p: p.restarts > before.restarts and p.state == "ready",
        what="restarted and ready")


def wait_for_process(name: str, replica: int, run: RunRef, timeout: float, predicate,
                     what: str = "in the expected state",
                     home: Path | None = None) -> ProcessState:
    deadline = time.monotonic() + timeout
    while True:
        _, state = load_state(run, home)
        proc = state.find(name, replica)
        if predicate(proc):
            return proc
        if not supervisor_alive(state):
            raise StackError(f"{proc.id}: supervisor stopped before it was {what}")
        if time.monotonic() > deadline:
            raise StackError(f"{proc.id} not {what} after {timeout:g} s (state {proc.state}, "
                             f"restarts {proc.restarts}); log: {proc.log}")
        time.sleep(0.05)


def wait_settled(run: RunRef = None, timeout: float = 60.0, home: Path | None = None,
                 launcher_alive=None) -> StackState:
    """Wait until the stack left 'starting' (running, failed or stopped)."""
    r = resolve_run(run, home)
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = read_state(r.state_path)
        except NotFoundError:
            state = None  # the supervisor has not written it yet
        if state is not None:
            if state.status != "starting":
                return state
            if not pid_alive(state.supervisor_pid):
                raise StackError(f"run {r.id}: supervisor (pid {state.supervisor_pid}) died "
                                 f"while starting; see {r.supervisor_log}")
        elif launcher_alive is not None and not launcher_alive():
            raise StackError(f"run {r.id}: supervisor exited before writing its state; "
                             f"see {r.supervisor_log}")
        if time.monotonic() > deadline:
            raise StackError(f"run {r.id}: stack not ready after {timeout:g} s; "
                             f"see {r.supervisor_log}")
        time.sleep(0.05)


def stop_stack(run: RunRef = None, home: Path | None = None, timeout: float = 30.0,
               until_stopped: bool = False) -> StackState | None:
    """SIGTERM the supervisor and wait for it to stop its processes.

    Returns the final state, or None when nothing was running. If the supervisor does not
    stop in time it is SIGKILLed (its children die with it) and any leftover child as well.
    With ``until_stopped`` (a stack a drill supervises in one of its threads), return once
    the state says stopped: the drill, told to stop as by Ctrl-C, may still be writing its
    report. A supervisor that died without saying so is cleaned up as ``stale.py`` does.
    """
    from gameday.stack.stale import clean_stale, is_stale

    r, state = load_state(run, home)
    if not supervisor_alive(state):
        return None
    refuse_external(state, "the stack")
    pid = state.supervisor_pid
    if pid == os.getpid():
        raise StackError(f"run {state.run_id} is supervised by this very process; "
                         f"stop it with Stack.stop()")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        if until_stopped and not supervisor_alive(load_state(r)[1]):
            break
        time.sleep(0.05)
    if pid_alive(pid) and supervisor_alive(load_state(r)[1]):
        os.kill(pid, signal.SIGKILL)
        for p in state.processes:
            if p.pid and pid_alive(p.pid):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        time.sleep(0.2)
    _, final = load_state(r)
    if is_stale(final):
        clean_stale(r, final)
        _, final = load_state(r)
    return final
