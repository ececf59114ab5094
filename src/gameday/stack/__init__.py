"""The local stack: a supervisor that starts the services, waits until they are ready,
restarts crashes with backoff, enforces memory limits and stops everything together.

Python API: ``Stack`` (in-process, a context manager), ``launch_detached`` (background
supervisor, what ``gameday up --detach`` does), and the helpers of ``control`` that act on a
running stack through its run folder.
"""

from gameday.runfolder import Run, create_run, find_run, resolve_run
from gameday.stack.backoff import Backoff
from gameday.stack.control import (
    kill_process,
    load_state,
    pause_process,
    request_restart,
    resume_process,
    signal_process,
    stop_stack,
    supervisor_alive,
)
from gameday.stack.daemon import launch_detached
from gameday.stack.local import Stack
from gameday.stack.spec import ServiceSpec, StackSettings, StackSpec, build_spec, default_spec
from gameday.stack.state import ProcessState, StackState, read_state, write_state
from gameday.stack.supervisor import Supervisor

__all__ = [
    "Backoff", "ProcessState", "Run", "ServiceSpec", "Stack", "StackSettings", "StackSpec",
    "StackState", "Supervisor", "build_spec", "create_run", "default_spec", "find_run",
    "kill_process", "launch_detached", "load_state", "pause_process", "read_state",
    "request_restart", "resolve_run", "resume_process", "signal_process", "stop_stack",
    "supervisor_alive", "write_state",
]
