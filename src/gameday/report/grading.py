"""Each lever a responder pulled, graded by what it did to the scenario's signal.

The HTTP status of the call says only that the lever moved; whether it helped is read from
the recording. The signal is the error ratio of the scenario's SLO, counted from its events
(bad / total, ``gameday.slo.consumption``: the rate right then, with no window still
filling up behind it), just before the lever and at the end of the time it had to act:

    before = bad / total over (t - 10 s, t]
    after  = bad / total over the last 10 s of (t, end],
             end = min(t + 45 s, the next lever, the drill's end)
             (and never past the fault's start for a lever pulled before it)

- ``failed``: the call failed (the lever did not move);
- ``reverted``: an out-of-world revert (``clear_faults``: drills only) - allowed for
  learning, never a mitigation;
- burning: before > budget, or an alert on that SLO (page or ticket) was firing when the
  lever was pulled (a system that heals itself for a while, outlier ejection for 30 s say,
  can show ten clean seconds in the middle of an incident; the alert still says it burns);
- ``helped``: the SLO was burning and the drill saw the scenario's steady-state hypothesis
  hold again after it (before the next lever and while the fault was still on: a fault
  running out is not the lever's doing), and the recovery held: not both the SLO's page
  firing after it and the SLO burning at RELAPSE_BURN x or more from the recovery to the
  next lever or the end (a page still firing a few seconds after a real fix is its windows
  catching up; errors back at a page's burn are a clean spell of the system's own ending);
  or it was burning, after <= before / 2 and the SLO's page was not firing at the end (a
  system that heals in bursts by itself, outlier ejection say, can look better for ten
  seconds while it still pages);
- ``worse``: after >= 1.5 x before + budget (burn up by at least 1x);
- ``undetermined``: less than 20 s between the lever and the next one or the end (no
  10 s of signal that the lever could have changed);
- ``no effect``: anything else, including a lever pulled while nothing was burning, and a
  lever that did not act on the gateway's pool whose recovery, or fall in the burn, came
  while the gateway had a faulted replica out of its pool (``gateway_upstream_ejected``):
  outlier detection ejects a failing replica by itself for 30 s, 60 s, ... and its errors
  stop until it is let back, whatever was pulled meanwhile. A lever acts on the pool when
  it ejects, un-ejects, restarts, kills, pauses or resumes a faulted replica (by index,
  URL or host:port), scales a faulted replica's service, or sets the gateway's
  ``balancing`` policy (outlier detection's own settings): ejecting the healthy replica
  while outlier detection has the faulted one out is not credited with its lull.

Only a lever graded ``helped`` sets the mitigation time.
"""

from __future__ import annotations

import math

from .metrics import DrillMetrics

REVERTS = {"clear_faults"}  # out-of-world: removes the fault instead of mitigating it
POOL_LEVERS = {"eject_replica", "uneject_replica", "restart_service", "scale_service",
               "kill_service", "pause_service", "resume_service"}
BEFORE_S, SETTLE_S, ACT_S, TAIL_S = 10.0, 10.0, 45.0, 10.0
RELAPSE_BURN = 6.0  # the lower burn factor a page fires at (14.4x and 6x in every catalog)


def signal_slo(metrics: DrillMetrics, names: list[str]) -> str | None:
    """The sloth_id of the scenario's first SLO (by name or id) that the recording has."""
    for name in names:
        for sid in metrics.slos:
            if sid == name or sid.endswith(f"-{name}"):
                return sid
    return None


def acts_on_pool(lever: str, args, faulted: dict[str, str]) -> bool:
    """Can the lever change whether a faulted replica (``faulted``: process id -> URL)
    gets traffic (module docstring)?"""
    args = args if isinstance(args, dict) else {}
    if lever == "set_gateway_policy":
        policy = args.get("policy")
        return bool(args.get("replace")) or isinstance(policy, dict) and "balancing" in policy
    if lever not in POOL_LEVERS:
        return False
    service = str(args.get("upstream", args.get("service")))
    if lever == "scale_service":
        return any(pid.rsplit("-", 1)[0] == service for pid in faulted)
    replica = str(args.get("replica", 0))
    return any(pid == f"{service}-{replica}" or url == replica or url.endswith(f"//{replica}")
               for pid, url in faulted.items())


def _hidden(metrics: DrillMetrics, faulted: dict[str, str] | None, lever: str, args,
            a: float, b: float) -> str:
    """'' when the lever acts on the pool or no faulted replica was out of the gateway's
    pool in [a, b]; else the replicas that were, for a reason's text."""
    if not faulted or acts_on_pool(lever, args, faulted):
        return ""
    return ", ".join(metrics.out_of_pool(list(faulted.values()), a, b))


def _pool_why(pool: str) -> str:
    return (f"the gateway had the faulted replica {pool} out of its pool then (outlier "
            f"detection, or an earlier lever): that stopped its errors, and this lever does "
            f"not act on the pool")


def _ratio(metrics: DrillMetrics, sid: str, a: float, b: float) -> float:
    """The SLO's error ratio over (a, b] from its events; NaN when nothing happened."""
    use = metrics.budget_use(sid, a, b)
    return math.nan if use is None else use.error_ratio


def grade(metrics: DrillMetrics | None, sid: str | None, lever: str, ok: bool | None,
          t: float, next_t: float | None, recovered: float | None = None,
          fault_end: float | None = None, fault_start: float | None = None,
          paging: AlertState | None = None, alerting: AlertState | None = None,
          args=None, faulted: dict[str, str] | None = None) -> dict:
    """``{"grade", "before", "after", "why"}`` for one lever pulled at ``t`` with ``args``;
    ``paging``: the SLO's page alert over time, ``alerting``: any of its alerts (page or
    ticket); ``faulted``: the replicas the fault was injected on (process id -> URL)."""
    if lever in REVERTS:
        return {"grade": "reverted", "before": None, "after": None,
                "why": f"{lever} removes the injected fault (drills only): a revert, not a "
                       f"mitigation"}
    if ok is False:
        return {"grade": "failed", "before": None, "after": None,
                "why": "the call failed: the lever did not move"}
    if metrics is None or sid is None or metrics.budget_use(sid, t - 1, t) is None:
        return {"grade": "undetermined", "before": None, "after": None,
                "why": "no recording of the scenario's SLO to judge it by"}
    budget = metrics.slos[sid].budget
    end = min(t + ACT_S, next_t if next_t is not None else math.inf, metrics.end)
    if fault_start is not None and t < fault_start:  # what the fault did is not the lever's
        end = min(end, fault_start)
    before = _ratio(metrics, sid, t - BEFORE_S, t)
    before_v = 0.0 if math.isnan(before) else before
    alerted = alerting is not None and alerting(t)
    burning = before_v > budget or alerted
    was = f"{sid} error ratio {before_v:.3g} before" + (
        f" ({alerting.names(t)} firing)" if alerted and before_v <= budget else "")
    if recovered is not None and t <= recovered and (next_t is None or recovered <= next_t) \
            and (fault_end is None or recovered < fault_end) and burning \
            and _held(metrics, sid, recovered, min(next_t or math.inf, metrics.end), paging):
        held = f"{was}; the scenario's steady state held again {recovered - t:.0f} s after it"
        pool = _hidden(metrics, faulted, lever, args, recovered - 1, recovered)
        if pool:
            return {"grade": "no effect", "before": before_v, "after": None,
                    "why": f"{held}, but {_pool_why(pool)}"}
        return {"grade": "helped", "before": before_v, "after": None,
                "why": f"{held}, with the fault still on"}
    if end - (t + SETTLE_S) < TAIL_S:
        return {"grade": "undetermined", "before": None, "after": None,
                "why": f"less than {SETTLE_S + TAIL_S:.0f} s after it before the next "
                       f"lever or the end of the drill"}
    after = _ratio(metrics, sid, end - TAIL_S, end)
    after_v = 0.0 if math.isnan(after) else after
    shown = f"{was}, {after_v:.3g} {end - t:.0f} s after"
    pool = _hidden(metrics, faulted, lever, args, end - TAIL_S, end) \
        if burning and after_v <= before_v / 2 else ""
    if after_v >= 1.5 * before_v + budget:
        result, why = "worse", f"{shown}: the burn rose"
    elif pool:
        result, why = "no effect", f"{shown}, but {_pool_why(pool)}"
    elif burning and after_v <= before_v / 2 and paging is not None and paging(end):
        result, why = "no effect", f"{shown}, but the page was still firing"
    elif burning and after_v <= before_v / 2:
        result, why = "helped", f"{shown}: the burn fell by half or more"
    elif not burning:
        result, why = "no effect", f"{shown}: nothing was burning when it was pulled"
    else:
        result, why = "no effect", f"{shown}: the burn did not fall by half"
    return {"grade": result, "before": before_v, "after": after_v, "why": why}


def _held(metrics: DrillMetrics, sid: str, recovered: float, until: float,
          paging: AlertState | None) -> bool:
    """Did the recovery hold until ``until``: not both the page firing after it and the SLO
    burning at RELAPSE_BURN x or more over (recovered, until]?"""
    if paging is None or not paging.firing_within(recovered, until):
        return True
    since = _ratio(metrics, sid, recovered, until)
    return math.isnan(since) or since < RELAPSE_BURN * metrics.slos[sid].budget


def grade_all(metrics: DrillMetrics | None, sid: str | None, mitigations: list[dict],
              recovered: float | None = None, fault_end: float | None = None,
              fault_start: float | None = None, paging: AlertState | None = None,
              alerting: AlertState | None = None,
              faulted: dict[str, str] | None = None) -> list[dict]:
    """Every mitigation (score.json's, in time order) with its grade fields added;
    ``recovered``: when the drill saw the steady state again; ``fault_end``: when the
    injected fault ended (cleared or ran out); ``faulted``: the replicas the fault was on
    (``faulted_endpoints``)."""
    out = []
    times = [m.get("ts") for m in mitigations]
    for i, m in enumerate(mitigations):
        later = [x for x in times[i + 1:] if isinstance(x, int | float) and x > m["ts"]]
        out.append({**m, **grade(metrics, sid, str(m.get("lever")), m.get("ok"), m["ts"],
                                 min(later) if later else None, recovered, fault_end,
                                 fault_start, paging, alerting, m.get("args"), faulted)})
    return out


def faulted_endpoints(events, stack: dict) -> dict[str, str]:
    """Process id -> URL (stack.json's) of the replicas the timeline's faults were injected
    on."""
    ids = {str(p) for e in events if e.kind == "fault_start"
           for p in (e.get("processes") or []) if isinstance(e.get("processes"), list)}
    procs = stack.get("processes") if isinstance(stack, dict) else None
    return {str(p["id"]): str(p["url"]) for p in procs or [] if isinstance(p, dict)
            and str(p.get("id")) in ids and isinstance(p.get("url"), str)}


class AlertState:
    """An SLO's alerts over time, from (ts, name, firing) changes in time order:
    ``state(ts)`` is whether any of them was firing at ``ts``."""

    def __init__(self, changes: list[tuple[float, str, bool]]):
        self.changes = sorted(changes, key=lambda c: c[0])

    def _firing(self, ts: float) -> set[str]:
        on: set[str] = set()
        for when, name, firing in self.changes:
            if when > ts:
                break
            (on.add if firing else on.discard)(name)
        return on

    def __call__(self, ts: float) -> bool:
        return bool(self._firing(ts))

    def names(self, ts: float) -> str:
        """The alerts firing at ``ts``, for a reason's text: 'the page', 'the ticket'."""
        return " and ".join(f"the {n}" for n in sorted(self._firing(ts)))

    def firing_within(self, a: float, b: float) -> bool:
        """Firing at some moment in (a, b]."""
        return self(a) or any(a < when <= b and firing for when, _, firing in self.changes)


def firing_at(events, slo_id: str | None, severity: str | None = None) -> AlertState | None:
    """The alerts on ``slo_id`` (of ``severity``, or any) by the timeline's alert_firing /
    alert_resolved events; None when there is no such SLO."""
    if not slo_id:
        return None
    return AlertState([(e.ts, str(e.get("severity") or "page"), e.kind == "alert_firing")
                       for e in events if e.kind in ("alert_firing", "alert_resolved")
                       and e.get("slo_id") == slo_id
                       and (severity is None or (e.get("severity") or "page") == severity)])
