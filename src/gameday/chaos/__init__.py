"""gameday's Chaos Toolkit extension: actions, probes, controls, and a journal reader.

    chaos discover --no-install gameday.chaos     # lists every action and probe

Modules: ``actions`` (faults, process control, model versions, gateway levers, load),
``probes`` (SLIs and SLO state from the query API, readiness), ``controls`` (timeline
recorder and error-budget safeguard), ``journal`` (pass/fail from a chaos journal).
See docs/chaos-extension.md.
"""

from __future__ import annotations

__all__ = ["discover"]


def discover(discover_system: bool = True) -> dict:
    """Chaos Toolkit discovery: the activities of gameday.chaos.actions and .probes."""
    from chaoslib.discovery import discover_actions, discover_probes, initialize_discovery_result

    from gameday import __version__

    discovery = initialize_discovery_result("gameday", __version__, "gameday")
    discovery["activities"].extend(discover_probes("gameday.chaos.probes"))
    discovery["activities"].extend(discover_actions("gameday.chaos.actions"))
    if discover_system:
        discovery["system"] = _system()
    return discovery


def _system() -> dict | None:
    """The current run's processes, when a stack runs in this directory."""
    try:
        from gameday.chaos.context import resolve
        from gameday.stack.state import read_state

        state = read_state(resolve().state_path)
    except Exception:
        return None
    return {"run_id": state.run_id, "status": state.status, "query_url": state.query_url,
            "processes": [{"id": p.id, "url": p.url, "state": p.state}
                          for p in state.processes]}
