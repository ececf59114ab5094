"""The supervisor's state file ``<run>/stack.json``, written atomically, read by anyone.

Example::

    {"version": 1, "run_id": "20261127-053012-ab12", "run_dir": "/abs/.gameday/runs/...",
     "supervisor_pid": 4242, "status": "running", "error": null,
     "started_at": 1795000000.1, "ready_at": 1795000002.4, "updated_at": 1795000010.0,
     "processes": [{"id": "classifier-1", "name": "classifier", "replica": 1, "url": "http://127.0.0.1:8083",
                    "port": 8083, "pid": 4250, "state": "ready", "restarts": 1,
                    "last_exit_code": 137, "last_exit_reason": "Killed (SIGKILL)",
                    "started_at": 1795000008.0, "ready_at": 1795000009.1,
                    "next_start_at": null, "memory_limit_mb": null,
                    "log": "/abs/.gameday/runs/.../logs/classifier-1.log"}]}

Times are Unix epoch seconds. Stack ``status``: starting, running (every process was ready
once), stopping, stopped, failed. Process ``state``: starting, ready, backoff (waiting to be
restarted), crashed (exited and not restarted), stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, computed_field
from pydantic import ValidationError as PydanticValidationError

from gameday.errors import NotFoundError, StackError
from gameday.runfolder import atomic_write

ProcessStateName = Literal["starting", "ready", "backoff", "crashed", "stopped"]
StackStatus = Literal["starting", "running", "stopping", "stopped", "failed"]
STATE_VERSION = 1


class ProcessState(BaseModel):
    name: str
    replica: int
    url: str
    port: int
    pid: int | None = None
    state: ProcessStateName = "starting"
    restarts: int = 0
    last_exit_code: int | None = None
    last_exit_reason: str | None = None
    started_at: float | None = None
    ready_at: float | None = None
    next_start_at: float | None = None
    memory_limit_mb: float | None = None
    log: str = ""

    @computed_field
    @property
    def id(self) -> str:
        return f"{self.name}-{self.replica}"


class StackState(BaseModel):
    version: int = STATE_VERSION
    run_id: str
    run_dir: str
    supervisor_pid: int
    status: StackStatus = "starting"
    error: str | None = None
    started_at: float
    ready_at: float | None = None
    updated_at: float
    processes: list[ProcessState] = Field(default_factory=list)
    query_url: str | None = None  # Prometheus-compatible API: Prometheus if it runs, else embedded
    embedded_url: str | None = None
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    external: bool = False  # services gameday did not start (stack/external.py)

    def find(self, name: str, replica: int = 0) -> ProcessState:
        for p in self.processes:
            if p.name == name and p.replica == replica:
                return p
        have = ", ".join(p.id for p in self.processes) or "none"
        raise NotFoundError(f"no process {name}-{replica} in run {self.run_id}; have: {have}")

    def of_service(self, name: str) -> list[ProcessState]:
        found = [p for p in self.processes if p.name == name]
        if not found:
            names = ", ".join(sorted({p.name for p in self.processes})) or "none"
            raise NotFoundError(f"no service {name!r} in run {self.run_id}; have: {names}")
        return found

    def urls(self) -> dict[str, str]:
        return {p.id: p.url for p in self.processes}


def write_state(path: Path, state: StackState) -> None:
    """Replace the file in one step: readers see the old or the new state, never half."""
    atomic_write(path, state.model_dump_json(indent=2), durable=False)


def read_state(path: Path) -> StackState:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no stack state; the supervisor of this run never "
                            f"started") from None
    try:
        return StackState.model_validate_json(text)
    except PydanticValidationError as err:
        raise StackError(f"{path}: unreadable stack state ({err.error_count()} error(s), "
                         f"first: {err.errors()[0]['msg']})") from None
