"""What every gameday Chaos Toolkit function shares: finding the run, and failing clearly.

The run an activity acts on is, in order: its ``run`` argument (a run id or a run folder
path), the experiment's ``configuration["gameday_run"]``, the ``GAMEDAY_RUN`` environment
variable (set by ``gameday chaos run``), else the current run of the working directory.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from chaoslib.exceptions import ActivityFailed

from gameday.durations import parse_duration
from gameday.errors import GamedayError
from gameday.runfolder import Run, resolve_run
from gameday.stack.state import StackState

ENV_RUN = "GAMEDAY_RUN"
CONFIG_RUN = "gameday_run"

__all__ = ["ENV_RUN", "activity", "resolve", "running_stack", "seconds"]


def resolve(run: str | Path | None = None, configuration: dict | None = None) -> Run:
    """The run folder to act on (see the module docstring); raises ActivityFailed."""
    ref = run or (configuration or {}).get(CONFIG_RUN) or os.environ.get(ENV_RUN) or None
    with activity("gameday run"):
        if isinstance(ref, str) and ("/" in ref or ref.startswith(".")):
            ref = Path(ref).resolve()
        return resolve_run(ref)


def running_stack(run=None, configuration: dict | None = None) -> tuple[Run, StackState]:
    """The run and its state, checked to have a live supervisor."""
    from gameday.stack.control import load_state, supervisor_alive

    r = resolve(run, configuration)
    with activity(f"run {r.id}"):
        _, state = load_state(r)
    if not supervisor_alive(state):
        raise ActivityFailed(f"run {r.id} is not running ({state.status}); start the stack "
                             f"with 'gameday up'")
    return r, state


@contextlib.contextmanager
def activity(what: str):
    """Turn gameday and HTTP errors into ActivityFailed('<what>: <message>')."""
    import httpx

    try:
        yield
    except ActivityFailed:
        raise
    except GamedayError as err:
        raise ActivityFailed(f"{what}: {err}") from None
    except httpx.HTTPError as err:
        raise ActivityFailed(f"{what}: {type(err).__name__}: {err}") from None


def seconds(value: str | float | int, where: str = "duration") -> float:
    """``"60s"``, ``"2m"``, ``"500ms"`` or a number of seconds; raises ActivityFailed."""
    if isinstance(value, bool):
        raise ActivityFailed(f"{where}: not a duration, got {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise ActivityFailed(f"{where}: must be above zero, got {value!r}")
        return float(value)
    with activity(where):
        return parse_duration(str(value), where=where)
