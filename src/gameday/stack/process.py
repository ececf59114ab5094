"""One supervised child process: spawn it so it dies with the supervisor, signal, reap.

Each child runs in its own process group (so a terminal's Ctrl-C reaches only the supervisor,
which then stops the children in order) and gets PR_SET_PDEATHSIG=SIGKILL, so it is killed
when the supervisor dies, even by SIGKILL. The kernel sends that signal when the *thread*
that forked the child exits: spawn only from the supervising thread, which lives as long as
the stack.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

from gameday.stack.plan import ProcessSpec
from gameday.stack.state import ProcessState

PR_SET_PDEATHSIG = 1


def _load_prctl():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):  # not Linux
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def _die_with_parent(parent_pid: int, sig: int = signal.SIGKILL):
    """preexec_fn: set the parent-death signal, and exit if the parent is already gone.

    The kernel sends ``sig`` when the *thread* that forked the child ends: spawn from a
    thread that lives as long as the parent (the main thread), never from a worker thread.
    """
    prctl = _PRCTL
    signum = int(sig)

    def setup() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died between fork and prctl
            os._exit(1)

    return setup


def spawn(argv: list[str], env: dict[str, str], log_path: Path,
          cwd: str | None = None) -> subprocess.Popen:
    """Start a child in its own process group, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, close_fds=True, process_group=0,
            preexec_fn=_die_with_parent(os.getpid()),
        )


def describe_exit(returncode: int, reason: str | None = None) -> tuple[int, str]:
    """(exit code, reason) like a container runtime: a signal n gives code 128+n."""
    if returncode < 0:
        signum = -returncode
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return 128 + signum, reason or f"Killed ({name})"
    return returncode, reason or ("Completed" if returncode == 0 else "Error")


def rss_mb(pid: int) -> float | None:
    """Resident set size from /proc/<pid>/status (VmRSS), in megabytes."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, ppid, pgrp) of a process from /proc/<pid>/stat, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def pid_alive(pid: int | None) -> bool:
    """True if the process exists and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = proc_stat(pid)
    if stat is None:  # just gone, or no /proc on this system (then trust kill)
        return not os.path.isdir("/proc/self")
    return stat[0] not in ("Z", "X")


class ManagedProcess:
    """A process spec plus its live state as the supervisor sees it."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self.popen: subprocess.Popen | None = None
        self.state = "starting"
        self.restarts = 0
        self.crashes = 0  # consecutive, for the backoff
        self.last_exit_code: int | None = None
        self.last_exit_reason: str | None = None
        self.started_at: float | None = None
        self.started_mono = 0.0
        self.ready_at: float | None = None
        self.next_start_mono: float | None = None
        self.next_start_at: float | None = None
        self.kill_reason: str | None = None  # why the supervisor itself stopped it
        self.restart_now = False
        self.term_deadline: float | None = None
        self.next_probe = 0.0

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        self.popen = spawn(self.spec.argv, self.spec.env, self.spec.log_path)
        self.state = "starting"
        self.started_at = time.time()
        self.started_mono = time.monotonic()
        self.ready_at = None
        self.next_start_mono = self.next_start_at = None
        self.kill_reason = None
        self.restart_now = False
        self.term_deadline = None
        self.next_probe = 0.0

    def signal_group(self, sig: int) -> bool:
        """Signal the child's process group; only while it is not reaped (pid not reused)."""
        if not self.running():
            return False
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def terminate(self, grace_s: float) -> None:
        """SIGTERM now (and SIGCONT, in case it is paused); SIGKILL after the grace period."""
        if self.signal_group(signal.SIGTERM):
            self.signal_group(signal.SIGCONT)
            self.term_deadline = time.monotonic() + grace_s

    def to_state(self) -> ProcessState:
        return ProcessState(
            name=self.spec.name, replica=self.spec.replica, url=self.spec.url,
            port=self.spec.port, pid=self.pid if self.running() else None, state=self.state,
            restarts=self.restarts, last_exit_code=self.last_exit_code,
            last_exit_reason=self.last_exit_reason, started_at=self.started_at,
            ready_at=self.ready_at, next_start_at=self.next_start_at,
            memory_limit_mb=self.spec.memory_limit_mb, log=str(self.spec.log_path),
        )
