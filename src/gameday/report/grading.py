"""Each lever a responder pulled, graded by what it did to the scenario's signal.

The HTTP status of the call says only that the lever moved; whether it helped is read from
the recording. The signal is the error ratio of the scenario's SLO over its 30 s window
(``slo:sli_error:ratio_rate30s``, the window the scenarios' hypotheses read), compared
just before the lever and at the end of the time it had to act:

    before = mean ratio over [t - 10 s, t]
    after  = mean ratio over the last 5 s of [t + 10 s, min(t + 45 s, next lever, drill end)]
             (and never past the fault's start for a lever pulled before it)

- ``failed``: the call failed (the lever did not move);
- ``reverted``: an out-of-world revert (``clear_faults``: drills only) - allowed for
  learning, never a mitigation;
- ``helped``: the SLO was burning (before > budget) and after <= before / 2, or the drill
  saw the scenario's steady-state hypothesis hold again after it (before the next lever and
  while the fault was still on: a fault running out is not the lever's doing);
- ``worse``: after >= 1.5 x before + budget (burn up by at least 1x);
- ``undetermined``: less than 10 s of signal after it (another lever or the end came first);
- ``no effect``: anything else, including a lever pulled while nothing was burning.

Only a lever graded ``helped`` sets the mitigation time.
"""

from __future__ import annotations

import math

import numpy as np

from .metrics import DrillMetrics

REVERTS = {"clear_faults"}  # out-of-world: removes the fault instead of mitigating it
BEFORE_S, SETTLE_S, ACT_S, TAIL_S = 10.0, 10.0, 45.0, 5.0
GRADES = ("helped", "no effect", "worse", "failed", "reverted", "undetermined")


def signal_slo(metrics: DrillMetrics, names: list[str]) -> str | None:
    """The sloth_id of the scenario's first SLO (by name or id) that the recording has."""
    for name in names:
        for sid in metrics.slos:
            if sid == name or sid.endswith(f"-{name}"):
                return sid
    return None


def _window(metrics: DrillMetrics, sid: str) -> np.ndarray | None:
    slo = metrics.slos.get(sid)
    if slo is None or not slo.ratios:
        return None
    return slo.ratios.get("30s", slo.ratios[slo.short_window])


def _mean(series: np.ndarray, metrics: DrillMetrics, a: float, b: float) -> float:
    part = series[metrics.index(a):metrics.index(b) + 1]
    part = part[~np.isnan(part)] if part.size else part
    return float(part.mean()) if part.size else math.nan


def grade(metrics: DrillMetrics | None, sid: str | None, lever: str, ok: bool | None,
          t: float, next_t: float | None, recovered: float | None = None,
          fault_end: float | None = None, fault_start: float | None = None) -> dict:
    """``{"grade", "before", "after", "why"}`` for one lever pulled at ``t``."""
    if lever in REVERTS:
        return {"grade": "reverted", "before": None, "after": None,
                "why": f"{lever} removes the injected fault (drills only): a revert, not a "
                       f"mitigation"}
    if ok is False:
        return {"grade": "failed", "before": None, "after": None,
                "why": "the call failed: the lever did not move"}
    series = None if metrics is None or sid is None else _window(metrics, sid)
    if series is None:
        return {"grade": "undetermined", "before": None, "after": None,
                "why": "no recording of the scenario's SLO to judge it by"}
    budget = metrics.slos[sid].budget
    end = min(t + ACT_S, next_t if next_t is not None else math.inf, metrics.end)
    if fault_start is not None and t < fault_start:  # what the fault did is not the lever's
        end = min(end, fault_start)
    before = _mean(series, metrics, t - BEFORE_S, t)
    before_v = 0.0 if math.isnan(before) else before
    if recovered is not None and t <= recovered and (next_t is None or recovered <= next_t) \
            and (fault_end is None or recovered < fault_end) and before_v > budget:
        return {"grade": "helped", "before": before_v, "after": None,
                "why": f"{sid} error ratio {before_v:.3g} before; the scenario's steady state "
                       f"held again {recovered - t:.0f} s after it, with the fault still on"}
    if end - (t + SETTLE_S) < TAIL_S:
        return {"grade": "undetermined", "before": None, "after": None,
                "why": f"less than {SETTLE_S + TAIL_S:.0f} s of signal after it (the next "
                       f"lever or the end of the drill came first)"}
    after = _mean(series, metrics, end - TAIL_S, end)
    after_v = 0.0 if math.isnan(after) else after
    shown = f"{sid} error ratio {before_v:.3g} before, {after_v:.3g} {end - t:.0f} s after"
    if after_v >= 1.5 * before_v + budget:
        result, why = "worse", f"{shown}: the burn rose"
    elif before_v > budget and after_v <= before_v / 2:
        result, why = "helped", f"{shown}: the burn fell by half or more"
    elif before_v <= budget:
        result, why = "no effect", f"{shown}: nothing was burning when it was pulled"
    else:
        result, why = "no effect", f"{shown}: the burn did not fall by half"
    return {"grade": result, "before": before_v, "after": after_v, "why": why}


def grade_all(metrics: DrillMetrics | None, sid: str | None, mitigations: list[dict],
              recovered: float | None = None, fault_end: float | None = None,
              fault_start: float | None = None) -> list[dict]:
    """Every mitigation (score.json's, in time order) with its grade fields added;
    ``recovered``: when the drill saw the steady state again; ``fault_end``: when the
    injected fault ended (cleared or ran out)."""
    out = []
    times = [m.get("ts") for m in mitigations]
    for i, m in enumerate(mitigations):
        later = [x for x in times[i + 1:] if isinstance(x, int | float) and x > m["ts"]]
        out.append({**m, **grade(metrics, sid, str(m.get("lever")), m.get("ok"), m["ts"],
                                 min(later) if later else None, recovered, fault_end,
                                 fault_start)})
    return out
