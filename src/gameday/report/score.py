"""score.json: how the drill went, in the shape docs/timeline.md gives.

    compute_score(run_path) -> dict     # never writes
    write_score(run_path) -> Path       # <run>/score.json, atomically

Phases come from the timeline (docs/timeline.md, "Phases"); durations are from impact
start. Budget consumed, requests and failures come from the recording replayed through the
drill catalog's rules (docs/drill-outputs.md says how). A partial run (Ctrl-C mid-drill,
no recording yet) gives nulls where it knows nothing; it never raises for what is missing.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from gameday.runfolder import Run, write_json
from gameday.slo.consumption import format_consumed
from gameday.timeline import fault_windows, phase_times

from .grading import faulted_endpoints, firing_at, grade_all, signal_slo
from .metrics import DrillMetrics, load_metrics
from .points import HINT_COST, LEVER_COST, award
from .points import verdict as points_verdict
from .run import DEFAULT_CATALOG, RunRecord, find_rules, load_run

VERSION = 1
# score.json "durations_s" key -> phase it measures from impact start
DURATIONS = (("detect", "detected"), ("acknowledge", "acknowledged"),
             ("mitigate", "mitigated"), ("recover", "recovered"), ("resolve", "resolved"))
BUDGET_METHOD = ("bad events / (error budget x total events x period / drill span): the "
                 "share of the catalog period's error budget the drill's bad events used, "
                 "events counted from the SLI's counters over the drill window "
                 "(gameday.slo.consumption)")


def _clean(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def metrics_for(run: RunRecord) -> DrillMetrics | None:
    """The replayed recording, or None (noted) when the run has none."""
    if not run.recording.is_file():
        run.notes.append(f"{run.recording.name}: not in the run folder; no metrics")
        return None
    catalog = str(run.drill.get("catalog") or DEFAULT_CATALOG)
    return load_metrics(run.recording, find_rules(catalog, run.drill))


def compute_score(run_path: Path, metrics: DrillMetrics | None = None,
                  run: RunRecord | None = None) -> dict:
    """The score of a run folder, as a JSON-ready dict (see docs/timeline.md)."""
    run = run or load_run(Path(run_path))
    if metrics is None:
        metrics = metrics_for(run)
    span = (metrics.start, metrics.end) if metrics else None
    start, end = run.window(span)
    phases = phase_times(run.events)
    impact = phases["impact_start"]
    answer = run.drill.get("answer_key") if isinstance(run.drill.get("answer_key"), dict) \
        else {}
    ends = [e for _, e in fault_windows(run.events) if e is not None]
    sid = _signal_slo(run, metrics, answer)
    graded = [dict(m, cost=LEVER_COST.get(m["grade"], 0)) for m in
              grade_all(metrics, sid, _mitigations(run), phases.get("recovered"),
                        min(ends) if ends else None, impact,
                        firing_at(run.events, sid, "page"), firing_at(run.events, sid),
                        faulted_endpoints(run.events, run.stack))]
    # only a lever that helped mitigates; a call that moved nothing is not a mitigation
    phases["mitigated"] = next((m["ts"] for m in graded if m["grade"] == "helped"
                                and (impact is None or m["ts"] >= impact)), None)
    durations = {key: (phases[p] - impact if phases[p] is not None and impact is not None
                       else None) for key, p in DURATIONS}
    score = {
        "version": VERSION,
        "run_id": run.run_id,
        "scenario": run.drill.get("scenario") or _from_event(run, "scenario"),
        "title": run.drill.get("title"),
        "mode": run.drill.get("mode") or _from_event(run, "mode"),
        "generated_at": time.time(),
        "partial": not run.ended,
        "window": {"start": start, "end": end, "duration_s": end - start},
        "phases": phases,
        "durations_s": durations,
        "requests": _requests(metrics, start, end),
        "slos": _slos(metrics, start, end),
        "budget_method": BUDGET_METHOD,
        "detecting_alert": _detecting(run, impact),
        "pages": [{"ts": e.ts, "alert": e.get("alert"), "severity": e.get("severity"),
                   "slo_id": e.get("slo_id"), "runbook_url": e.get("runbook_url")}
                  for e in run.of_kind("page")],
        "diagnosis": _diagnosis(run),
        "mitigations": graded,
        "hints": _hints(run),
        "notes": list(run.notes),
    }
    limits = time_limits(run.drill)
    score["limits_s"] = limits
    asked = score.get("mode") == "wheel" or bool((score["diagnosis"] or {}).get("attempts"))
    score["points"] = award(score, limits, asked)
    score["verdict"] = verdict(score, run.drill.get("expected") or {}, run.ended,
                               interrupted=_interrupted(run))
    return _clean(score)


def _mitigations(run: RunRecord) -> list[dict]:
    return [{"ts": e.ts, "lever": e.get("lever"), "who": e.who, "ok": e.get("ok"),
             "args": e.get("args"), "text": e.text or None} for e in run.of_kind("mitigation")]


def _signal_slo(run: RunRecord, metrics: DrillMetrics | None, answer: dict) -> str | None:
    """The SLO whose burn grades the levers: the scenario's first, else the page's."""
    if metrics is None:
        return None
    names = [s for s in answer.get("slos") or [] if isinstance(s, str)]
    names += [e.get("slo_id") for e in run.of_kind("page") if isinstance(e.get("slo_id"), str)]
    return signal_slo(metrics, names)


def _hints(run: RunRecord) -> dict:
    taken = [{"ts": e.ts, "who": e.who, "n": e.get("n")} for e in run.of_kind("hint")]
    return {"taken": len(taken), "events": taken, "cost_each": HINT_COST}


def _interrupted(run: RunRecord) -> bool:
    return bool(run.drill.get("interrupted")) or any(
        e.get("interrupted") for e in run.of_kind("run_end"))


def time_limits(drill: dict) -> dict:
    """Seconds each phase may take (detect, mitigate and recover from impact start,
    acknowledge from detection): drill.json's ``expected``, which the drill fills from the
    scenario (tight for --auto, calibrated for people: docs/scoring.md)."""
    expected = drill.get("expected") or {}
    out = {}
    for key in ("detect", "acknowledge", "mitigate", "recover"):
        value = expected.get(f"{key}_s")
        out[key] = float(value) if isinstance(value, int | float) and not isinstance(
            value, bool) else None
    return out


def write_score(run_path: Path, **kwargs) -> Path:
    """Compute and write ``<run>/score.json`` (temp file + rename)."""
    body = compute_score(Path(run_path), **kwargs)
    return write_json(Run(Path(run_path)).score, body)


def _from_event(run: RunRecord, key: str):
    for e in run.of_kind("run_start"):
        if e.get(key):
            return e.get(key)
    return None


def _requests(metrics: DrillMetrics | None, a: float, b: float) -> dict:
    if metrics is None:
        return {"total": None, "failed": None, "failed_ratio": None, "fallbacks": None}
    total, failed = metrics.total(metrics.requests, a, b), metrics.total(metrics.failed, a, b)
    return {"total": int(round(total)), "failed": int(round(failed)),
            "failed_ratio": failed / total if total else None,
            "fallbacks": int(round(metrics.total(metrics.fallbacks, a, b)))}


def _slos(metrics: DrillMetrics | None, a: float, b: float) -> list[dict]:
    if metrics is None:
        return []
    rows = []
    for sid, slo in metrics.slos.items():
        use = metrics.budget_use(sid, a, b)
        rows.append({"slo_id": sid, "objective": slo.objective,
                     "budget_consumed": None if use is None else use.consumed,
                     "budget_consumed_text": format_consumed(None if use is None
                                                             else use.consumed),
                     "events": None if use is None else {"bad": use.bad, "total": use.total,
                                                         "span_s": use.span_s},
                     "peak_burn": metrics.peak_burn(sid, a, b),
                     "traffic": bool(use and use.total > 0),
                     "period_s": slo.period_s, "window": slo.short_window})
    return rows


def _detecting(run: RunRecord, impact: float | None) -> dict | None:
    for e in run.of_kind("alert_firing", "page"):
        if impact is None or e.ts >= impact:
            return {"alert": e.get("alert") or e.text or None, "severity": e.get("severity"),
                    "slo_id": e.get("slo_id"), "ts": e.ts, "runbook_url": e.get("runbook_url")}
    return None


def _diagnosis(run: RunRecord) -> dict | None:
    stated = run.of_kind("diagnosis")
    key = run.drill.get("answer_key")
    expected = key.get("text") if isinstance(key, dict) else key
    if not stated:
        return None if expected is None else {"stated": None, "expected": expected,
                                              "correct": None, "attempts": 0}
    judged = [e for e in stated if isinstance(e.get("correct"), bool)]
    final = judged[-1] if judged else stated[-1]
    correct = final.get("correct") if judged else None
    # a facilitator's override (``gameday incident judge``) after it wins, with its reason
    override = [e for e in run.of_kind("diagnosis_judged")
                if e.ts >= final.ts and isinstance(e.get("correct"), bool)]
    key = run.drill.get("answer_key") if isinstance(run.drill.get("answer_key"), dict) else {}
    choice = key.get("diagnosis") if isinstance(key.get("diagnosis"), dict) else None
    return {"stated": final.get("stated") or final.text or None, "who": final.who,
            "ts": final.ts, "expected": final.get("expected") or (
                f"{choice['component']}: {choice['failure_mode']}" if choice else expected),
            "text": final.text or None,
            "correct": override[-1].get("correct") if override else correct,
            "overridden": {"by": override[-1].who, "reason": override[-1].text}
            if override else None, "attempts": len(stated)}


def verdict(score: dict, expected: dict, ended: bool, interrupted: bool = False) -> dict:
    """pass / fail / incomplete / reverted from the points scheme (report/points.py), with
    the limit checks of drill.json's ``expected`` kept as ``checks``."""
    checks = []
    wanted = {key: expected.get(f"{key}_s") for key, _ in DURATIONS}
    if not any(isinstance(v, int | float) for v in wanted.values()):
        wanted = {"detect": None, "recover": None}
    for key, limit in wanted.items():
        if limit is None and key not in ("detect", "recover"):
            continue
        actual = score["durations_s"].get(key)
        ok = actual is not None and (limit is None or actual <= limit)
        checks.append({"check": key, "expected_s": limit, "actual_s": actual, "ok": ok})
    diagnosis = score.get("diagnosis")
    # a diagnosis is asked for in the wheel of misfortune; elsewhere it counts when given
    asked = score.get("mode") == "wheel" or (diagnosis or {}).get("attempts")
    if diagnosis and diagnosis.get("expected") is not None and asked:
        checks.append({"check": "diagnosis", "expected_s": None, "actual_s": None,
                       "ok": diagnosis.get("correct") is True})
    if "points" not in score:  # a caller without the points scheme (old score dicts)
        score = dict(score, points=award(score, {k: v for k, v in wanted.items()}, bool(asked)))
    judged = points_verdict(score, ended, interrupted)
    return {"result": judged["result"], "checks": checks, "reasons": judged["reasons"],
            "percent": judged["percent"]}


def _reason(check: dict) -> str:
    name = check["check"]
    if name == "diagnosis":
        return "diagnosis wrong or not given"
    if check["actual_s"] is None:
        return f"{name}: never happened"
    return f"{name}: took {check['actual_s']:.0f}s, expected within {check['expected_s']:g}s"


def budget_lines(score: dict) -> list[str]:
    """The drill's closing budget lines, one per SLO, from score.json's own figures."""
    from gameday.slo.consumption import events_text
    from gameday.slo.names import format_duration

    lines = []
    for slo in score.get("slos") or []:
        if not isinstance(slo, dict) or "budget_consumed" not in slo:
            continue
        period = slo.get("period_s")
        of = (f" of the {format_duration(period)} period's budget"
              if isinstance(period, int | float) and period > 0 else "")
        peak = slo.get("peak_burn")
        extra = f", peak burn {peak:.1f}x" if isinstance(peak, int | float) else ""
        lines.append(f"  budget consumed {slo['slo_id']}: "
                     f"{format_consumed(slo.get('budget_consumed'))}{of} "
                     f"({events_text(slo.get('events'))} events bad{extra})")
    return lines
