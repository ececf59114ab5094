"""The points scheme and the verdict derived from it (docs/scoring.md says the same).

Points for what a responder achieved in time, minus costs for help and for wrong moves:

    detect      10   the scenario's alert fired within the detect limit
    acknowledge 15   the page was acknowledged within the ack limit (from detection)
    diagnose    20   the diagnosis was judged right (only when one was asked or given)
    mitigate    30   a lever that helped (report/grading.py) within the mitigate limit
    recover     25   steady state met again within the recover limit, and resolved after it
    hint        -5   each hint taken
    lever       -5   each lever that had no effect, -10 each that made it worse,
                -2   each call that failed

The score is the points over those available (diagnose counts only when asked), as a
percent, floored at 0. The verdict:

- ``incomplete``: the run was interrupted (Ctrl-C) or ended before the incident did, and
  nothing that was checked went wrong yet;
- ``reverted``: the fault was removed by an out-of-world revert (``clear_faults``) and no
  real lever helped: reverted, not mitigated;
- ``fail``: phases out of order (resolved before recovery, ...), never recovered, no
  lever that helped (the fault ran out by itself), or the score under ``PASS_AT``;
- ``pass``: otherwise.
"""

from __future__ import annotations

POINTS = {"detect": 10, "acknowledge": 15, "diagnose": 20, "mitigate": 30, "recover": 25}
HINT_COST = 5
LEVER_COST = {"no effect": 5, "worse": 10, "failed": 2}
PASS_AT = 60.0  # percent of the points available
# phases in the order an incident goes through them; ``<`` where strictly later
ORDER = (("impact_start", "detected", "<="), ("detected", "acknowledged", "<="),
         ("acknowledged", "mitigated", "<="), ("mitigated", "recovered", "<"),
         ("recovered", "resolved", "<="))
LABEL = {"impact_start": "impact", "detected": "detection", "acknowledged": "acknowledgement",
         "mitigated": "mitigation", "recovered": "recovery", "resolved": "resolution"}


def phase_order(phases: dict) -> list[str]:
    """Every pair of phases that happened out of order, in words."""
    wrong = []
    for a, b, op in ORDER:
        ta, tb = phases.get(a), phases.get(b)
        if ta is None or tb is None:
            continue
        if tb < ta or (op == "<" and tb == ta):
            wrong.append(f"{LABEL[b]} came before {LABEL[a]} ({tb - ta:+.1f} s)")
    if phases.get("resolved") is not None and phases.get("recovered") is None:
        wrong.append("resolved, but the steady state was never met again")
    return wrong


def award(score: dict, limits: dict, asked: bool) -> dict:
    """``{"points", "available", "percent", "items"}`` for a score dict (score.py)."""
    items = []

    def item(name: str, got: float, of: float, why: str) -> None:
        items.append({"item": name, "points": got, "of": of, "why": why})

    durations = score.get("durations_s") or {}
    phases = score.get("phases") or {}
    for key, limit_key, since in (("detect", "detect", "impact"),
                                  ("acknowledge", "acknowledge", "detection"),
                                  ("mitigate", "mitigate", "impact"),
                                  ("recover", "recover", "impact")):
        actual = durations.get(key)
        if key == "acknowledge" and actual is not None and phases.get("detected") is not None:
            actual = phases["acknowledged"] - phases["detected"] \
                if phases.get("acknowledged") is not None else None
        limit = limits.get(limit_key)
        if actual is None:
            item(key, 0, POINTS[key], f"{key}: never happened")
        elif limit is not None and actual > limit:
            item(key, 0, POINTS[key], f"{key}: {actual:.0f} s after {since}, limit {limit:g} s")
        else:
            within = "" if limit is None else f", limit {limit:g} s"
            item(key, POINTS[key], POINTS[key], f"{key}: {actual:.0f} s after {since}{within}")
    diagnosis = score.get("diagnosis") or {}
    if asked:
        right = diagnosis.get("correct") is True
        item("diagnose", POINTS["diagnose"] if right else 0, POINTS["diagnose"],
             "diagnosis judged right" if right else
             "diagnosis judged wrong" if diagnosis.get("correct") is False else
             "diagnosis not judged: free text only (pick a component and a failure mode)"
             if diagnosis.get("attempts") else "no diagnosis given")
    hints = (score.get("hints") or {}).get("taken") or 0
    if hints:
        item("hints", -HINT_COST * hints, 0, f"{hints} hint(s) taken, {HINT_COST} points each")
    for m in score.get("mitigations") or []:
        cost = LEVER_COST.get(m.get("grade"))
        if cost:
            item("lever", -cost, 0, f"{m.get('lever')} {m.get('grade')}: {m.get('why')}")
    got = sum(i["points"] for i in items)
    available = sum(i["of"] for i in items)
    percent = max(0.0, 100.0 * got / available) if available else 0.0
    return {"points": got, "available": available, "percent": round(percent, 1),
            "pass_at": PASS_AT, "items": items}


def verdict(score: dict, ended: bool, interrupted: bool) -> dict:
    """pass / fail / incomplete / reverted, from the points and the checks, with reasons."""
    points = score["points"]
    phases = score.get("phases") or {}
    reasons = list(phase_order(phases))
    grades = [m.get("grade") for m in score.get("mitigations") or []]
    recovered = phases.get("recovered") is not None
    for i in points["items"]:
        if i["of"] and i["points"] < i["of"]:
            reasons.append(i["why"])
    if (interrupted or not ended) and not recovered and not phase_order(phases):
        result = "incomplete"
        reasons.insert(0, "the drill was interrupted before the incident ended" if interrupted
                       else "the drill has not ended")
    elif "reverted" in grades and "helped" not in grades and recovered:
        result = "reverted"
        reasons.insert(0, "reverted, not mitigated: the fault was removed with clear_faults "
                          "(drills only) and no real lever helped")
    elif phase_order(phases) or not recovered or points["percent"] < PASS_AT \
            or "helped" not in grades:
        result = "fail"
        if recovered and "helped" not in grades:
            reasons.insert(0, "not mitigated: no lever helped; the steady state came back "
                              "when the fault ended on its own")
        if points["percent"] < PASS_AT:
            reasons.append(f"score {points['percent']:g}% is under the pass mark {PASS_AT:g}%")
    else:
        result = "pass"
    return {"result": result, "reasons": reasons, "percent": points["percent"]}
