"""The levers a responder may pull: the Chaos Toolkit actions that repair or relieve.

Breaking things (injecting faults, pausing or killing services, load) is the chaos side's
job, not the responder's, so those actions are not levers. The scenario checker (names in a
scenario's ``mitigations`` must be levers) and the incident (``mitigate``) both read this.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

NOT_LEVERS = {"inject_fault", "pause_service", "kill_service", "start_load", "stop_load"}


def levers() -> dict[str, Callable]:
    """Lever name -> the action function, in the actions module's order."""
    from gameday.chaos import actions

    return {name: getattr(actions, name) for name in actions.__all__ if name not in NOT_LEVERS}


def lever_help() -> list[dict]:
    """Each lever with its arguments and the first line of its docstring."""
    out = []
    for name, func in levers().items():
        params = [p for p in inspect.signature(func).parameters
                  if p not in ("run", "configuration", "secrets")]
        doc = (inspect.getdoc(func) or "").splitlines()
        out.append({"lever": name, "arguments": params, "help": doc[0] if doc else ""})
    return out
