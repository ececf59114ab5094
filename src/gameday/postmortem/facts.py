"""What a run folder knows about an incident, as plain values for the template.

Sources, each optional except the timeline: ``timeline.jsonl`` (events), ``score.json``
(the drill's own figures, preferred when present), ``slo-status.json`` (the stack monitor's
last SLO status) and ``stack.json`` (supervisor state). Field shapes: docs/timeline.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from gameday.display import elapsed, percent, utc
from gameday.errors import ValidationError
from gameday.runfolder import SCORE, Run, read_json
from gameday.slo.consumption import events_text, format_consumed
from gameday.timeline import (
    PHASES,
    Event,
    fault_windows,
    first,
    phase_times,
    read_timeline,
)


def _num(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _phase_times(events: list[Event], score: dict) -> dict[str, float | None]:
    """The score's phase times (it grades which lever mitigated), else the timeline's."""
    given = score.get("phases") or {}
    found = phase_times(events)
    return {key: _num(given.get(key)) if _num(given.get(key)) is not None else found[key]
            for key, _, _ in PHASES}


def _phases(times: dict[str, float | None]) -> list[dict]:
    start, prev, rows = times["impact_start"], None, []
    for key, label, _ in PHASES:
        ts = times[key]
        rows.append({"key": key, "label": label, "at": utc(ts),
                     "since_start": elapsed(ts - start) if ts and start else "-",
                     "since_prev": elapsed(ts - prev) if ts and prev else "-"})
        prev = ts or prev
    return rows


def _slo_rows(score: dict, status: dict | None) -> list[dict]:
    """Budget consumed as score.json computed it (gameday.slo.consumption, the same figure
    the drill, the report and ``slo status/budget --run`` print); the state at the end from
    the last live status. No figure is derived here."""
    rows: dict[str, dict] = {}
    given = score.get("slos") or []
    for body in given if isinstance(given, list) else []:
        if not isinstance(body, dict) or not body.get("slo_id"):
            continue
        sid = str(body["slo_id"])
        rows[sid] = {"slo_id": sid, "objective": percent(_num(body.get("objective")), 2),
                     "consumed": format_consumed(_num(body.get("budget_consumed"))),
                     "events": events_text(body.get("events")), "state": "-",
                     "source": SCORE}
    for s in (status or {}).get("slos", []):
        sid = s.get("slo_id", "")
        if sid in rows:
            rows[sid]["state"] = s.get("state") or "-"
    return [rows[k] for k in sorted(rows)]


def budget_scope(score: dict) -> str:
    """What the budget figures are, in words, from score.json's window and SLO period."""
    from gameday.slo.names import format_duration

    periods = {_num(s.get("period_s")) for s in score.get("slos") or [] if isinstance(s, dict)}
    periods.discard(None)
    span = _num((score.get("window") or {}).get("duration_s"))
    if len(periods) != 1 or span is None:
        return "share of the SLO period's error budget consumed during the drill"
    return (f"share of the {format_duration(periods.pop())} period's error budget consumed "
            f"during the drill's {format_duration(round(span))}")


def _detecting(events: list[Event], score: dict, start: float | None) -> dict | None:
    given = score.get("detecting_alert")
    if isinstance(given, dict) and given.get("alert"):
        alert, severity, slo = given["alert"], given.get("severity"), given.get("slo_id")
        ts = _num(given.get("ts"))
    else:
        event = first(events, "alert_firing")
        if event is None:
            return None
        alert = event.get("alert") or event.text or "unknown alert"
        severity, slo, ts = event.get("severity"), event.get("slo_id"), event.ts
    return {"alert": alert, "severity": severity or "-", "slo_id": slo or "-", "at": utc(ts),
            "after": elapsed(ts - start) if ts and start else "-",
            "runbook": f"runbooks/{alert}.md"}


def _alerts(events: list[Event]) -> list[dict]:
    """One row per firing interval, exactly as fired and resolved: an alert that resolved
    and fired again is two rows."""
    rows: list[dict] = []
    open_rows: dict[tuple, dict] = {}
    for e in events:
        key = (e.get("alert") or e.text, e.get("severity") or "-")
        if e.kind == "alert_firing" and key not in open_rows:
            row = {"alert": key[0], "severity": key[1], "firing": utc(e.ts), "resolved": "-",
                   "lasted": "-", "ts": e.ts}
            rows.append(row)
            open_rows[key] = row
        elif e.kind == "alert_resolved" and key in open_rows:
            row = open_rows.pop(key)
            row["resolved"] = utc(e.ts)
            row["lasted"] = elapsed(e.ts - row["ts"])
    return rows


def _bad_events(score: dict) -> list[dict]:
    """Per SLO that counted bad events: what the SLI itself counted as bad (5xx, fallback
    answers, slow answers, wrong predictions), from score.json's events."""
    out = []
    for s in score.get("slos") or []:
        ev = s.get("events") if isinstance(s, dict) else None
        if not isinstance(ev, dict) or not _num(ev.get("bad")) or not _num(ev.get("total")):
            continue
        bad, total = float(ev["bad"]), float(ev["total"])
        out.append({"slo_id": s.get("slo_id"), "bad": f"{round(bad):,}",
                    "total": f"{round(total):,}", "ratio": percent(bad / total, 2)})
    return out


def _graded(score: dict, events: list[Event]) -> list[dict]:
    """Every lever pulled, with its grade from score.json (report/grading.py), else only
    what the timeline says."""
    given = [m for m in score.get("mitigations") or [] if isinstance(m, dict)]
    if given:
        return [{"at": utc(_num(m.get("ts"))), "who": m.get("who") or "-",
                 "lever": m.get("lever") or "-", "text": m.get("text") or "",
                 "call": "failed" if m.get("ok") is False else "ok",
                 "grade": m.get("grade") or "-", "why": m.get("why") or "",
                 "cost": int(_num(m.get("cost")) or 0)} for m in given]
    return [{"at": utc(e.ts), "who": e.who or "-", "lever": e.get("lever") or "-",
             "text": e.text, "call": "failed" if e.get("ok") is False else "ok",
             "grade": "-", "why": "", "cost": 0} for e in events if e.kind == "mitigation"]


def _diagnosis(score: dict) -> dict | None:
    """The diagnosis, only when one was given: nothing is said about one never asked."""
    d = score.get("diagnosis")
    if not isinstance(d, dict) or not d.get("attempts") or not d.get("stated"):
        return None
    correct = d.get("correct")
    return {"stated": d["stated"], "expected": d.get("expected"),
            "judged": "right" if correct is True else ("wrong" if correct is False
                                                       else "not judged"),
            "attempts": d.get("attempts")}


def _fault_type(e: Event) -> str:
    fault = e.get("fault")
    if isinstance(fault, dict) and fault.get("type"):
        return str(fault["type"])
    return str(e.get("type") or fault or "-")


def _describe(e: Event) -> str:
    bits = [e.text] if e.text else []
    for key in ("alert", "severity", "service", "fault", "lever", "slo_id"):
        value = e.get(key)
        if value not in (None, "") and str(value) not in e.text:
            bits.append(f"{key}={json.dumps(value) if isinstance(value, dict | list) else value}")
    return "; ".join(bits)


def collect_facts(run_path: Path) -> dict:
    """Everything the template needs; raises ValidationError naming the bad file and line."""
    run_path = Path(run_path)
    if not run_path.is_dir():
        raise ValidationError(f"{run_path}: no such run folder")
    notes: list[str] = []
    run = Run(run_path)
    events, warnings = read_timeline(run.timeline)
    score = read_json(run.score, notes) or {}
    status = read_json(run.slo_status, notes)
    stack = read_json(run.state_path, notes) or {}
    times = _phase_times(events, score)
    start = times["impact_start"]
    origin = start or (events[0].ts if events else None)
    requests = score.get("requests") or {}
    failed, total = _num(requests.get("failed")), _num(requests.get("total"))
    windows = fault_windows(events)
    end = times["recovered"] or (windows[0][1] if windows else None)
    restarted = [p for p in stack.get("processes", []) if p.get("restarts")]
    return {
        "run": {"id": score.get("run_id") or stack.get("run_id") or run_path.name,
                "path": str(run_path), "scenario": score.get("scenario") or "-",
                "mode": score.get("mode") or "-",
                "started": utc(_num(stack.get("started_at")) or (events[0].ts if events else None)),
                "generated": utc(time.time())},
        "phases": _phases(times),
        "impact": {"start": utc(start), "end": utc(end),
                   "duration": elapsed(end - start) if start and end else "-",
                   "failed": None if failed is None else int(failed),
                   "total": None if total is None else int(total),
                   "failed_ratio": percent(failed / total, 2) if failed is not None and total
                   else "-", "fallbacks": _num(requests.get("fallbacks"))},
        "slos": _slo_rows(score, status),
        "budget_scope": budget_scope(score),
        "detecting": _detecting(events, score, start),
        "alerts": _alerts(events),
        "faults": [{"at": utc(e.ts), "service": e.get("service") or "-",
                    "type": _fault_type(e), "text": e.text, "who": e.who or "-"}
                   for e in events if e.kind == "fault_start"],
        "mitigations": _graded(score, events),
        "bad_events": _bad_events(score),
        "hints": [{"at": utc(e.ts), "who": e.who or "-", "n": e.get("n") or "?"}
                  for e in events if e.kind == "hint"],
        "points": score.get("points") if isinstance(score.get("points"), dict) else None,
        "verdict": score.get("verdict") if isinstance(score.get("verdict"), dict) else None,
        "diagnosis": _diagnosis(score),
        "timeline": [{"at": utc(e.ts), "offset": elapsed(e.ts - origin) if origin else "-",
                      "who": e.who or "-", "kind": e.kind, "text": _describe(e)}
                     for e in events],
        "processes": [{"id": p.get("id") or f"{p.get('name')}-{p.get('replica')}",
                       "restarts": p.get("restarts"),
                       "last_exit": p.get("last_exit_reason") or "-"} for p in restarted],
        "notes": notes + warnings,
    }
