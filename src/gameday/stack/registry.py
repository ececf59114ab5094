"""Every live stack of a project folder: ``.gameday/stacks.json``, changed under a file lock.

``.gameday/current`` says which run commands act on by default; this registry says what runs.
Each entry names the run, the process that holds it (the supervisor, or the process that is
starting it), what started it and the ports it claimed::

    {"version": 1, "stacks": [{"run_id": "20261203-130000-ab12", "kind": "up", "pid": 4242,
      "pid_start": 1234567, "host": "127.0.0.1", "base_port": 8080,
      "ports": [8080, 8081, 8082, 8083, 8084], "started_at": 1795000000.0}]}

Kinds: ``up`` (``gameday up``, foreground or ``--detach``), ``drill`` (a drill's own stack,
supervised in a thread of the drill's process), ``process`` (any other ``stack.local.Stack``:
``gameday tour``, a script, a test), ``external`` (services gameday did not start, watched
by a drill).

Every change takes an exclusive ``flock`` on ``.gameday/stacks.lock``, so "is anything on
these ports?" and "register mine" are one step: of two ``gameday up`` at once, one registers
and the other sees it. Reading drops the entries whose holder is gone (its pid died, or was
reused by another process) or whose ``stack.json`` says stopped/failed; a run its supervisor
left running is cleaned as ``stack/stale.py`` does (leftover processes killed, marked failed).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError

from gameday.errors import GamedayError, StackError, ValidationError
from gameday.runfolder import (
    Run,
    atomic_write,
    create_run,
    current_run_id,
    registry_file,
    runs_dir,
    runs_home,
)
from gameday.stack.plan import assign_ports, port_in_use
from gameday.stack.process import pid_alive
from gameday.stack.spec import StackSpec
from gameday.stack.stale import LIVE, clean_stale, is_stale
from gameday.stack.state import StackState, read_state

LOCK_FILE = "stacks.lock"
Kind = Literal["up", "drill", "process", "external"]
KIND_TEXT = {"up": "gameday up", "drill": "a drill's own stack",
             "process": "a stack inside another command or script",
             "external": "services outside gameday, watched by a drill"}


class Entry(BaseModel):
    run_id: str
    kind: Kind
    pid: int
    pid_start: int | None = None  # /proc/<pid>/stat starttime: tells a reused pid apart
    host: str = "127.0.0.1"
    base_port: int | None = None
    ports: list[int] = Field(default_factory=list)
    started_at: float = 0.0


class Book(BaseModel):
    version: int = 1
    stacks: list[Entry] = Field(default_factory=list)


@dataclass
class LiveStack:
    """A live entry with what its run folder says now."""

    entry: Entry
    run_path: Path
    state: StackState | None = None  # None while the supervisor has not written it yet
    current: bool = False

    @property
    def run_id(self) -> str:
        return self.entry.run_id

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def pid(self) -> int:
        return self.entry.pid

    def ports(self) -> set[int]:
        found = set(self.entry.ports)
        if self.state is not None:
            found |= {p.port for p in self.state.processes}
        return found

    def gateway_url(self) -> str | None:
        if self.state is None:
            return None
        return next((p.url for p in self.state.processes if p.name == "gateway"), None)

    def describe(self, with_ports: bool = True) -> str:
        """``run ID (gameday up, pid N, ports 8080-8084)``."""
        ports = port_ranges(self.ports()) if with_ports else ""
        where = f", ports {ports}" if ports else ""
        return f"run {self.run_id} ({KIND_TEXT[self.kind]}, pid {self.pid}{where})"


def port_ranges(ports: Iterable[int]) -> str:
    """``8080-8084, 9090``: runs of consecutive ports."""
    out: list[tuple[int, int]] = []
    for p in sorted(set(ports)):
        if out and out[-1][1] == p - 1:
            out[-1] = (out[-1][0], p)
        else:
            out.append((p, p))
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in out)


def pid_start(pid: int) -> int | None:
    """The process start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    return int(text[text.rindex(")") + 2:].split()[19])


def holder_alive(entry: Entry) -> bool:
    if not pid_alive(entry.pid):
        return False
    start = pid_start(entry.pid)
    return entry.pid_start is None or start is None or start == entry.pid_start


# -- the file, under its lock -------------------------------------------------------------
@contextmanager
def locked(home: Path | None = None) -> Iterator[Book]:
    """The registry of ``home`` under an exclusive lock; saved on a clean exit."""
    home = home or runs_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_FILE, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            book = _read(registry_file(home))
            before = book.model_dump_json()
            yield book
            if book.model_dump_json() != before:
                _write(registry_file(home), book)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> Book:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Book()
    try:
        return Book.model_validate_json(text)
    except PydanticValidationError as err:
        raise ValidationError(f"{path}: unreadable stack registry ({err.error_count()} "
                              f"error(s), first: {err.errors()[0]['msg']}); remove it once "
                              f"no stack runs") from None


def _write(path: Path, book: Book) -> None:
    atomic_write(path, json.dumps(book.model_dump(), indent=2), durable=False)


# -- reading: what runs, cleaning what does not -------------------------------------------
Cleaned = tuple[StackState, list[int]]


def _load(home: Path, entry: Entry) -> LiveStack:
    run = Run(runs_dir(home) / entry.run_id)
    run_path = run.path
    try:
        state = read_state(run.state_path)
    except GamedayError:
        state = None
    return LiveStack(entry=entry, run_path=run_path, state=state)


def _sweep(home: Path, book: Book,
           clean: bool = True) -> tuple[list[LiveStack], list[Cleaned]]:
    live: list[LiveStack] = []
    cleaned: list[Cleaned] = []
    keep: list[Entry] = []
    known = {e.run_id for e in book.stacks}
    for entry in book.stacks:
        item = _load(home, entry)
        state = item.state
        over = state is not None and state.status not in LIVE
        supervised = (state is not None and not over and not state.external
                      and pid_alive(state.supervisor_pid))
        if (holder_alive(entry) or supervised) and not over:
            live.append(item)
            keep.append(entry)
            continue
        if state is not None and not over and is_stale(state):
            if not clean:  # kept for the next reader that cleans
                keep.append(entry)
                continue
            cleaned.append((state, clean_stale(Run(item.run_path), state)))
    book.stacks = keep
    current = _current_id(home)
    if current and current not in known:
        cleaned += _adopt_current(home, current, book, live, clean)
    for item in live:
        item.current = item.run_id == current
    return live, cleaned


def _adopt_current(home: Path, run_id: str, book: Book, live: list[LiveStack],
                   clean: bool) -> list[Cleaned]:
    """A current run nobody registered (started by an older gameday): registered if it
    runs, cleaned if its supervisor left it running."""
    item = _load(home, Entry(run_id=run_id, kind="up", pid=0))
    state = item.state
    if state is None or state.status not in LIVE:
        return []
    if is_stale(state):
        return [(state, clean_stale(Run(item.run_path), state))] if clean else []
    if state.external or not pid_alive(state.supervisor_pid):
        return []
    item.entry = Entry(run_id=run_id, kind="up", pid=state.supervisor_pid,
                       pid_start=pid_start(state.supervisor_pid), host="127.0.0.1",
                       ports=sorted({p.port for p in state.processes}),
                       started_at=state.started_at)
    book.stacks.append(item.entry)
    live.append(item)
    return []


def _current_id(home: Path) -> str | None:
    return current_run_id(home)


def sweep(home: Path | None = None,
          clean: bool = True) -> tuple[list[LiveStack], list[Cleaned]]:
    """The live stacks, oldest first, and what was cleaned up of dead ones (state, pids).

    With ``clean`` False (a read-only view such as ``gameday status``), runs left running by
    a dead supervisor are not touched: the next reader that cleans does it.
    """
    home = home or runs_home()
    if not home.is_dir():
        return [], []
    with locked(home) as book:
        return _sweep(home, book, clean)


def live_stacks(home: Path | None = None, clean: bool = True) -> list[LiveStack]:
    return sweep(home, clean)[0]


def find_live(run_id: str, home: Path | None = None) -> LiveStack | None:
    return next((s for s in live_stacks(home) if s.run_id == run_id), None)


# -- writing: register, claim, forget -----------------------------------------------------
def conflict_message(taken: LiveStack, ports: set[int]) -> str:
    return (f"ports {port_ranges(ports & taken.ports())} are taken by "
            f"{taken.describe(with_ports=False)}; "
            f"stop it with 'gameday down --run {taken.run_id}', or pick other ports with "
            f"--base-port N or --free-ports")


def register_run(kind: Kind, home: Path | None = None, ports: Iterable[int] = (),
                 base_port: int | None = None, host: str = "127.0.0.1",
                 pid: int | None = None, check: Callable[[], None] | None = None) -> Run:
    """Create a run folder and register it, refusing ports a live stack holds; one step.

    ``check`` runs under the lock before the run is created (say, that no other program
    holds the ports). Raises ValidationError naming the run that holds a wanted port.
    """
    home = home or runs_home()
    wanted = set(ports)
    with locked(home) as book:
        live, _ = _sweep(home, book)
        for other in live:
            if wanted & other.ports():
                raise ValidationError(conflict_message(other, wanted))
        if check is not None:
            check()
        run = create_run(home)
        pid = pid or os.getpid()
        book.stacks.append(Entry(run_id=run.id, kind=kind, pid=pid, pid_start=pid_start(pid),
                                 host=host, base_port=base_port, ports=sorted(wanted),
                                 started_at=time.time()))
    return run


def register_stack(spec: StackSpec, kind: Kind, home: Path | None = None) -> Run:
    """``register_run`` for a stack spec: its ports (none yet with free ports; Prometheus's
    when fixed), checked to be neither a live stack's nor in use by any other program."""
    ports = {} if spec.free_ports else assign_ports(spec)
    if spec.settings.prometheus and spec.settings.prometheus_port:
        ports[("prometheus", 0)] = spec.settings.prometheus_port

    def check() -> None:
        for (name, replica), port in ports.items():
            if port_in_use(port, spec.host):
                raise StackError(f"port {port} for {name}-{replica} is already in use; pick "
                                 f"other ports with --base-port N or --free-ports")

    return register_run(kind, home, ports=ports.values(), host=spec.host, check=check,
                        base_port=None if spec.free_ports else spec.base_port)


def add_run(run: Run, kind: Kind, pid: int | None = None) -> None:
    """Register a run folder created elsewhere (an external stack), held by ``pid``."""
    pid = pid or os.getpid()
    with locked(run.home) as book:
        book.stacks = [e for e in book.stacks if e.run_id != run.id]
        book.stacks.append(Entry(run_id=run.id, kind=kind, pid=pid, pid_start=pid_start(pid),
                                 started_at=time.time()))


def claim_run(run: Run, pid: int | None = None) -> None:
    """The process now holding ``run`` (the detached supervisor after its fork)."""
    pid = pid or os.getpid()
    with locked(run.home) as book:
        entry = next((e for e in book.stacks if e.run_id == run.id), None)
        if entry is None:  # whoever registered it died before the handover
            book.stacks.append(Entry(run_id=run.id, kind="up", pid=pid,
                                     pid_start=pid_start(pid), started_at=time.time()))
        else:
            entry.pid, entry.pid_start = pid, pid_start(pid)


def forget_run(run: Run) -> None:
    """Drop ``run`` from the registry (its stack stopped)."""
    if not registry_file(run.home).exists():
        return
    with locked(run.home) as book:
        book.stacks = [e for e in book.stacks if e.run_id != run.id]
