"""The scenario's steady-state hypothesis, checked by the drill controller itself.

The drill decides "steady before" and "recovered" with the same probes and tolerances the
experiment declares, so the answer matches what ``chaos run`` would say. Only python
providers can be evaluated in-process; others are reported as not checkable.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass
class ProbeResult:
    name: str
    value: object
    ok: bool
    error: str | None = None


def hypothesis_probes(experiment: dict) -> list[dict]:
    return list((experiment.get("steady-state-hypothesis") or {}).get("probes") or [])


def run_probe(probe: dict, run_path: str) -> ProbeResult:
    from chaoslib.hypothesis import within_tolerance

    name = probe.get("name", "?")
    provider = probe.get("provider") or {}
    if provider.get("type") != "python":
        return ProbeResult(name, None, False, f"provider {provider.get('type')!r} is not "
                                              f"checkable in-process")
    try:
        func = getattr(importlib.import_module(provider["module"]), provider["func"])
        args = dict(provider.get("arguments") or {})
        args.setdefault("run", run_path)
        value = func(**args)
    except Exception as err:  # a failing probe is a failed check, not a crashed drill
        return ProbeResult(name, None, False, f"{type(err).__name__}: {err}")
    try:
        ok = bool(within_tolerance(probe.get("tolerance"), value))
    except Exception as err:
        return ProbeResult(name, value, False, f"tolerance: {type(err).__name__}: {err}")
    return ProbeResult(name, value, ok)


def check_steady(experiment: dict, run_path: str) -> list[ProbeResult]:
    return [run_probe(p, run_path) for p in hypothesis_probes(experiment)]


def all_ok(results: list[ProbeResult]) -> bool:
    return all(r.ok for r in results)


class QuietClock:
    """How long no alert has been firing: a drill injects its fault only after every alert
    (not only the scenario's) has been quiet for ``settle_s`` seconds, so that nothing seen
    after the fault was there before it."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self.quiet_since: float | None = None
        self.firing: list[str] = []

    def observe(self, firing: list[str], now: float) -> None:
        self.firing = sorted(firing)
        if self.firing:
            self.quiet_since = None
        elif self.quiet_since is None:
            self.quiet_since = now

    def settled(self, now: float) -> bool:
        return self.quiet_since is not None and now - self.quiet_since >= self.settle_s

    def describe(self, now: float) -> str:
        """Why the alerts are not settled yet (for the drill's error message)."""
        if self.firing:
            return "still firing: " + ", ".join(self.firing)
        quiet = 0.0 if self.quiet_since is None else now - self.quiet_since
        return f"quiet for only {quiet:.0f} s of the {self.settle_s:g} s settle period"
