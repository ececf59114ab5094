"""The run folder: ``.gameday/runs/<run-id>/`` in the working directory.

Layout::

    .gameday/current                 the run commands act on by default (one line)
    .gameday/stacks.json             every live stack, changed under stacks.lock (registry.py)
    .gameday/runs/<run-id>/
        token                        admin bearer token, mode 0600, never printed
        spec.json                    the stack spec the supervisor runs
        stack.json                   supervisor state, written atomically (see state.py)
        control/                     requests to the supervisor (restart a process)
        faults/<name>-<replica>.json faults of one process, kept across restarts until TTL
        logs/<name>-<replica>.log    stdout+stderr of one process, appended across restarts
        logs/supervisor.log          supervisor events, one JSON object per line
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gameday.errors import NotFoundError, ValidationError

HOME_DIRNAME = ".gameday"
RUN_ENV = "GAMEDAY_RUN"


def runs_home(cwd: Path | None = None) -> Path:
    return (cwd or Path.cwd()) / HOME_DIRNAME


def new_run_id(now: float | None = None) -> str:
    """UTC timestamp plus a short random suffix, for example ``20261127-053012-ab12``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Run:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def home(self) -> Path:
        return self.path.parent.parent

    @property
    def token_path(self) -> Path:
        return self.path / "token"

    @property
    def state_path(self) -> Path:
        return self.path / "stack.json"

    @property
    def spec_path(self) -> Path:
        return self.path / "spec.json"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def faults_dir(self) -> Path:
        return self.path / "faults"

    @property
    def control_dir(self) -> Path:
        return self.path / "control"

    @property
    def supervisor_log(self) -> Path:
        return self.logs_dir / "supervisor.log"

    def log_path(self, name: str, replica: int) -> Path:
        return self.logs_dir / f"{name}-{replica}.log"

    def faults_path(self, name: str, replica: int) -> Path:
        return self.faults_dir / f"{name}-{replica}.json"

    def token(self) -> str:
        try:
            text = self.token_path.read_text().strip()
        except OSError as err:
            raise NotFoundError(f"{self.token_path}: cannot read the run's admin token "
                                f"({err.strerror})") from None
        if not text:
            raise NotFoundError(f"{self.token_path}: the run's admin token is empty")
        return text


def create_run(home: Path | None = None, make_current: bool = True) -> Run:
    """A fresh run folder with its token (mode 0600), made the current run."""
    from gameday.faults.auth import new_token, write_token_file  # FastAPI: only when needed

    home = home or runs_home()
    (home / "runs").mkdir(parents=True, exist_ok=True)
    while True:
        path = home / "runs" / new_run_id()
        try:
            path.mkdir(mode=0o700)
            break
        except FileExistsError:
            continue
    run = Run(path)
    for d in (run.logs_dir, run.faults_dir, run.control_dir):
        d.mkdir()
    write_token_file(run.token_path, new_token())
    if make_current:
        set_current(run)
    return run


def set_current(run: Run) -> None:
    fd, tmp = tempfile.mkstemp(dir=run.home, prefix=".current-")
    with os.fdopen(fd, "w") as fh:
        fh.write(run.id + "\n")
    os.replace(tmp, run.home / "current")


def find_run(run_id: str | None = None, home: Path | None = None) -> Run:
    """The run with this id, or the current one; raises NotFoundError naming what is missing."""
    home = home or runs_home()
    if run_id is None:
        current = home / "current"
        try:
            run_id = current.read_text().strip()
        except OSError:
            raise NotFoundError(f"no gameday run in {home} (no {current}); "
                                f"start one with 'gameday up'") from None
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise ValidationError(f"--run: not a run id, got {run_id!r}")
    path = home / "runs" / run_id
    if not path.is_dir():
        raise NotFoundError(f"run {run_id!r} not found in {home / 'runs'}")
    return Run(path)


def resolve_run(run: Run | str | Path | None = None, home: Path | None = None) -> Run:
    """Accept a Run, a run folder path, a run id, or None for the current run.

    None means ``$GAMEDAY_RUN`` when set (a run id or folder: what a drill gives the
    processes it starts, such as ``chaos run``), else the working directory's current run.
    """
    if run is None and os.environ.get(RUN_ENV):
        run = os.environ[RUN_ENV]
    if isinstance(run, str) and "/" in run and Path(run).is_dir():
        run = Path(run)
    if isinstance(run, Run):
        return run
    if isinstance(run, Path):
        if not run.is_dir():
            raise NotFoundError(f"run folder {run} not found")
        return Run(run)
    return find_run(run, home)
