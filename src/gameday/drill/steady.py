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
