"""Capacity search: classify load in steps until p99 crosses the gateway's latency SLO.

Two rates come out of the steps, each interpolated between the two steps around it:
- the knee, where throughput stops following the users: a step's requests per user fall
  below ``FOLLOW_SHARE`` of the first step's (the users ask for the same rate, the stack
  serves less of it; what they ask for waits in queues from there on);
- the SLO limit, where p99 crosses the ``le`` bound of the classify latency SLO
  (slos/gateway.yaml). Locust's users wait for each answer, so past the knee latency grows
  with the users (Little's law) and the SLO limit can lie well above it.

Both are measured on the answers the model served (``served_rps``: not failed, not
degraded; loadtests/capacity.py): the fast fallbacks of an open circuit are not capacity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gameday.errors import ValidationError
from gameday.resources import loadtests_dir, slos_dir

from .profiles import CAPACITY_FILE
from .runner import LoadHandle, new_out_dir, start_locust
from .target import stack_targets

STEPS_FILE = "capacity_steps.jsonl"
CLASSIFY_ROUTE = "/v1/classify"
FOLLOW_SHARE = 0.9  # the knee: req/s per user below this share of the first step's, for good


@dataclass(frozen=True)
class CapacityPlan:
    start_users: int = 5
    step_users: int = 5
    step_s: float = 10.0
    settle_s: float = 2.0
    max_users: int = 100
    max_time_s: float = 120.0
    max_failure_ratio: float = 0.05


def validate_plan(plan: CapacityPlan) -> CapacityPlan:
    for name, value in (("--start-users", plan.start_users), ("--step-users", plan.step_users),
                        ("--max-users", plan.max_users)):
        if value < 1:
            raise ValidationError(f"{name}: must be at least 1, got {value}")
    if plan.max_users < plan.start_users:
        raise ValidationError(f"--max-users: must be at least --start-users "
                              f"({plan.start_users}), got {plan.max_users}")
    if plan.settle_s >= plan.step_s:
        raise ValidationError(f"--settle: must be shorter than --step-time "
                              f"({plan.step_s:g}s), got {plan.settle_s:g}s")
    if plan.max_time_s < plan.step_s:
        raise ValidationError(f"--max-time: must be at least --step-time ({plan.step_s:g}s), "
                              f"got {plan.max_time_s:g}s")
    return plan


def default_slo_file() -> Path:
    """gateway.yaml of the SLO specs in use (gameday.resources)."""
    return slos_dir() / "gateway.yaml"


def slo_threshold_s(spec_path: Path, route: str = CLASSIFY_ROUTE) -> tuple[float, str]:
    """The ``le`` bound of the latency SLO on ``route`` in ``spec_path``: (seconds, SLO name).

    The whole folder is read (data sources and alert policies live in other files); errors
    in other SLOs do not matter, they are only quoted when this one is not found."""
    from gameday.slo.validate import collect_slos

    if not spec_path.is_file():
        raise ValidationError(f"{spec_path}: no such SLO file")
    slos, errors = collect_slos([spec_path.parent])
    for slo in slos:
        good = slo.indicator.good
        if good is None or Path(slo.source).resolve() != spec_path.resolve():
            continue
        labels = {m.label: m.value for m in good.matchers if m.op == "="}
        if labels.get("route") == route and "le" in labels:
            try:
                return float(labels["le"]), slo.name
            except ValueError:
                raise ValidationError(f"{spec_path}: slo {slo.name!r}: le must be a number, "
                                      f"got {labels['le']!r}") from None
    mine = [e for e in errors if e.startswith(str(spec_path))]
    raise ValidationError(f"{spec_path}: no latency SLO (good selector with route=\"{route}\" "
                          f"and an le bucket) found" + "".join(f"; {e}" for e in mine[:3]))


def read_steps(path: Path) -> list[dict]:
    steps = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            steps.append(json.loads(line))
        except ValueError:
            continue  # a line still being written
    return steps


def served(step: dict) -> float:
    """Answers per second the model served at this step (steps written before the capacity
    run told degraded answers apart have only ``rps``)."""
    return step.get("served_rps", step["rps"])


def per_user(step: dict) -> float:
    return served(step) / step["users"] if step.get("users") else 0.0


def find_saturation(steps: list[dict], share: float = FOLLOW_SHARE) -> dict:
    """The knee: between the last step whose rps per user is at least ``share`` of the
    first step's and the step after it (every later step is under). A dip that recovers at
    the next step (a noisy neighbour for ten seconds) is not the knee.

    Returns ``knee_rps`` (interpolated on the per-user rate), ``knee_users`` (the first step
    under it for good) and ``knee_reason``; ``knee_rps`` is None when the last step still
    kept up, or when fewer than two steps were measured."""
    measured = [s for s in steps if s.get("users") and s.get("requests")]
    if len(measured) < 2:
        return {"knee_rps": None, "knee_users": None,
                "knee_reason": "fewer than two steps measured"}
    base = per_user(measured[0])
    floor = share * base
    last_up = max(i for i, s in enumerate(measured) if per_user(s) >= floor)  # 0 at least
    if last_up == len(measured) - 1:
        return {"knee_rps": None, "knee_users": None,
                "knee_reason": f"throughput kept up with the users up to "
                               f"{measured[-1]['users']} users ({served(measured[-1]):g} req/s)"}
    prev, step = measured[last_up], measured[last_up + 1]
    before, now = per_user(prev), per_user(step)
    part = (before - floor) / (before - now) if before > now else 1.0
    knee = served(prev) + part * (served(step) - served(prev))
    return {"knee_rps": round(knee, 1), "knee_users": step["users"],
            "knee_reason": f"req/s per user fell from {before:.1f} at {prev['users']} users "
                           f"to {now:.1f} at {step['users']} users; the first step got "
                           f"{base:.1f} and the knee is at {share:.0%} of it"}


def find_knee(steps: list[dict], threshold_ms: float) -> dict:
    """The knee (``find_saturation``) and the SLO limit: where p99 first goes over
    ``threshold_ms`` (``slo_rps`` interpolated, ``crossed``, ``at_users``, ``reason``)."""
    return {**find_saturation(steps), **find_slo_limit(steps, threshold_ms)}


def find_slo_limit(steps: list[dict], threshold_ms: float) -> dict:
    """Where p99 first goes over ``threshold_ms``: the rps there (interpolated) and why."""
    last_ok = None
    for step in steps:
        p99 = step.get("p99_ms")
        if p99 is not None and p99 > threshold_ms:
            if last_ok is None:
                return {"slo_rps": None, "crossed": True, "at_users": step["users"],
                        "reason": f"p99 {p99:g} ms already over {threshold_ms:g} ms at the "
                                  f"first step ({step['users']} users, {served(step):g} rps)"}
            p0, p1 = last_ok["p99_ms"], p99
            share = (threshold_ms - p0) / (p1 - p0) if p1 > p0 else 1.0
            limit = served(last_ok) + share * (served(step) - served(last_ok))
            return {"slo_rps": round(limit, 1), "crossed": True, "at_users": step["users"],
                    "reason": f"p99 went from {p0:g} ms at {last_ok['users']} users to "
                              f"{p1:g} ms at {step['users']} users"}
        if p99 is not None:
            last_ok = step
    best = max((served(s) for s in steps), default=0.0)
    why = "no step measured" if not steps else (
        f"p99 stayed within {threshold_ms:g} ms up to {steps[-1]['users']} users")
    if steps and steps[-1].get("too_many_failures"):
        last = steps[-1]
        why += (f"; the run stopped there: {last['failures']} of {last['requests']} answers "
                f"failed or were degraded (fallbacks are not capacity)")
    return {"slo_rps": None, "crossed": False, "at_users": None, "max_rps": best, "reason": why}


def start_capacity(plan: CapacityPlan, threshold_s: float, host: str | None = None,
                   out_dir: Path | None = None, run=None) -> LoadHandle:
    validate_plan(plan)
    if host is None:
        host, _ = stack_targets(run)
    out = new_out_dir("capacity", run, out_dir)
    extra = ["--start-users", str(plan.start_users), "--step-users", str(plan.step_users),
             "--step-time", f"{plan.step_s:g}s", "--settle", f"{plan.settle_s:g}s",
             "--max-users", str(plan.max_users), "--max-time", f"{plan.max_time_s:g}s",
             "--slo-ms", f"{threshold_s * 1000:g}",
             "--max-failure-ratio", f"{plan.max_failure_ratio:g}",
             "--steps-file", str(out / STEPS_FILE)]
    meta = {"profile": "capacity", "plan": plan.__dict__, "threshold_s": threshold_s}
    locustfile = loadtests_dir() / CAPACITY_FILE
    return start_locust(locustfile, host, out, plan.max_time_s + 15.0, extra, meta)


def capacity_report(handle: LoadHandle, threshold_s: float) -> dict:
    steps = read_steps(handle.out_dir / STEPS_FILE)
    return {"threshold_ms": threshold_s * 1000, "steps": steps,
            **find_knee(steps, threshold_s * 1000), "out_dir": str(handle.out_dir)}
