"""Where the load goes: the running stack's gateway (and feature store), from stack.json."""

from __future__ import annotations

from gameday.errors import StackError


def stack_targets(run=None) -> tuple[str, str | None]:
    """(gateway URL, feature store URL or None) of the run; StackError if it is not running."""
    from gameday.stack.control import load_state, supervisor_alive

    r, state = load_state(run)
    if not supervisor_alive(state):
        raise StackError(f"run {r.id} is not running ({state.status}); start the stack with "
                         f"'gameday up --detach' or give --host")
    gateway = next((p for p in state.processes if p.name == "gateway"), None)
    if gateway is None:
        raise StackError(f"run {r.id}: no gateway process in {r.state_path}")
    features = next((p.url for p in state.processes if p.name == "features"), None)
    return gateway.url, features
