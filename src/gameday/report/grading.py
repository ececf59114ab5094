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
- burning: before > budget, or the page that opened the incident was firing when the lever
  was pulled (a system that heals itself for a while, outlier ejection for 30 s say, can
  show ten clean seconds in the middle of an incident; the page still says it burns);
- ``helped``: the SLO was burning and the drill saw the scenario's steady-state hypothesis
  hold again after it (before the next lever and while the fault was still on: a fault
  running out is not the lever's doing; and the page not firing again by the next lever or
  the end), or it was burning, after <= before / 2 and the
  page that opened the incident was no longer firing at the end (a system that heals in
  bursts by itself, outlier ejection say, can look better for ten seconds while it still
  pages);
- ``worse``: after >= 1.5 x before + budget (burn up by at least 1x);
- ``undetermined``: less than 20 s between the lever and the next one or the end (no
  10 s of signal that the lever could have changed);
- ``no effect``: anything else, including a lever pulled while nothing was burning.

Only a lever graded ``helped`` sets the mitigation time.
"""

from __future__ import annotations

import math

from .metrics import DrillMetrics

REVERTS = {"clear_faults"}  # out-of-world: removes the fault instead of mitigating it
BEFORE_S, SETTLE_S, ACT_S, TAIL_S = 10.0, 10.0, 45.0, 10.0


def signal_slo(metrics: DrillMetrics, names: list[str]) -> str | None:
    """The sloth_id of the scenario's first SLO (by name or id) that the recording has."""
    for name in names:
        for sid in metrics.slos:
            if sid == name or sid.endswith(f"-{name}"):
                return sid
    return None


def _ratio(metrics: DrillMetrics, sid: str, a: float, b: float) -> float:
    """The SLO's error ratio over (a, b] from its events; NaN when nothing happened."""
    use = metrics.budget_use(sid, a, b)
    return math.nan if use is None else use.error_ratio


def grade(metrics: DrillMetrics | None, sid: str | None, lever: str, ok: bool | None,
          t: float, next_t: float | None, recovered: float | None = None,
          fault_end: float | None = None, fault_start: float | None = None,
          paging=None) -> dict:
    """``{"grade", "before", "after", "why"}`` for one lever pulled at ``t``; ``paging(ts)``
    says whether the page that opened the incident was firing at ``ts``."""
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
    paged = paging is not None and paging(t)
    burning = before_v > budget or paged
    was = f"{sid} error ratio {before_v:.3g} before" + (
        " (the page firing)" if paged and before_v <= budget else "")
    # the page firing again before the next lever or the end: that recovery did not hold
    # (a clean spell of the system's own, outlier ejection's 30 s say, is not the lever's)
    held = paging is None or not paging(min(next_t if next_t is not None else math.inf,
                                            metrics.end))
    if recovered is not None and t <= recovered and (next_t is None or recovered <= next_t) \
            and (fault_end is None or recovered < fault_end) and burning and held:
        return {"grade": "helped", "before": before_v, "after": None,
                "why": f"{was}; the scenario's steady state held again "
                       f"{recovered - t:.0f} s after it, with the fault still on"}
    if end - (t + SETTLE_S) < TAIL_S:
        return {"grade": "undetermined", "before": None, "after": None,
                "why": f"less than {SETTLE_S + TAIL_S:.0f} s after it before the next "
                       f"lever or the end of the drill"}
    after = _ratio(metrics, sid, end - TAIL_S, end)
    after_v = 0.0 if math.isnan(after) else after
    shown = f"{was}, {after_v:.3g} {end - t:.0f} s after"
    if after_v >= 1.5 * before_v + budget:
        result, why = "worse", f"{shown}: the burn rose"
    elif burning and after_v <= before_v / 2 and paging is not None and paging(end):
        result, why = "no effect", f"{shown}, but the page was still firing"
    elif burning and after_v <= before_v / 2:
        result, why = "helped", f"{shown}: the burn fell by half or more"
    elif not burning:
        result, why = "no effect", f"{shown}: nothing was burning when it was pulled"
    else:
        result, why = "no effect", f"{shown}: the burn did not fall by half"
    return {"grade": result, "before": before_v, "after": after_v, "why": why}


def grade_all(metrics: DrillMetrics | None, sid: str | None, mitigations: list[dict],
              recovered: float | None = None, fault_end: float | None = None,
              fault_start: float | None = None, paging=None) -> list[dict]:
    """Every mitigation (score.json's, in time order) with its grade fields added;
    ``recovered``: when the drill saw the steady state again; ``fault_end``: when the
    injected fault ended (cleared or ran out)."""
    out = []
    times = [m.get("ts") for m in mitigations]
    for i, m in enumerate(mitigations):
        later = [x for x in times[i + 1:] if isinstance(x, int | float) and x > m["ts"]]
        out.append({**m, **grade(metrics, sid, str(m.get("lever")), m.get("ok"), m["ts"],
                                 min(later) if later else None, recovered, fault_end,
                                 fault_start, paging)})
    return out


def firing_at(events, alert: str | None):
    """``paging(ts)``: was ``alert`` (page severity) firing at ``ts``, by the timeline's
    alert_firing / alert_resolved events? None when there is no such alert."""
    if not alert:
        return None
    changes = [(e.ts, e.kind == "alert_firing") for e in events
               if e.kind in ("alert_firing", "alert_resolved") and e.get("alert") == alert
               and (e.get("severity") or "page") == "page"]

    def paging(ts: float) -> bool:
        state = False
        for when, firing in changes:
            if when > ts:
                break
            state = firing
        return state

    return paging
