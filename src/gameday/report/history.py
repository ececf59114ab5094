"""Progress across drills: one row per drill of a runs folder, and the trend as a PNG.

    history_rows(runs_dir, team=None) -> list[dict]   # oldest first
    draw_trend(rows, out) -> Path                      # score and TTD/TTM/TTR over runs

Every figure of a row is read, never recomputed: the scenario, mode, verdict, score and the
times to detect, mitigate and recover come from the run's ``score.json`` (which took its
phases from ``gameday.timeline.phase_times``); the responders from ``drill.json``'s roles and
the ``who`` of the responders' own events in ``timeline.jsonl``. A drill without a score
(interrupted before the report, or run with ``--no-outputs``) is a row with status
``no score``; a folder whose file cannot be read is a row with status ``broken`` and the
problem naming the file. Folders of a plain ``gameday up`` (no drill.json, timeline or
score) are not drills and are left out.

There is no team field in a run: ``team`` filters on the responders. A run belongs to the
team when any of the given names took a role or acted (ack, note, hint, mitigate,
diagnose, escalate, resolve) in it; names compare case-insensitively.
"""

from __future__ import annotations

import calendar
import time
from pathlib import Path

from gameday.errors import GamedayError, ValidationError
from gameday.runfolder import Run, read_json
from gameday.timeline import read_timeline

__all__ = ["RESPONDER_KINDS", "history_rows", "draw_trend", "responders"]

# the kinds of event a person (or the auto-responder) writes: their ``who`` is a responder
RESPONDER_KINDS = ("ack", "role", "note", "hint", "escalate", "diagnosis", "mitigation",
                   "resolve", "resolve_refused")
# score.json "durations_s" keys shown, and their short names
TIMES = (("detect", "ttd_s"), ("mitigate", "ttm_s"), ("recover", "ttr_s"))


def _is_drill(run: Run) -> bool:
    return any(p.exists() for p in (run.drill_file, run.timeline, run.score))


def responders(drill: dict, events: list) -> list[str]:
    """Names that took a role (drill.json ``roles``) or acted in the timeline, sorted."""
    names = {str(v) for v in (drill.get("roles") or {}).values()
             if isinstance(v, str) and v.strip()}
    names |= {e.who for e in events if e.kind in RESPONDER_KINDS and e.who}
    return sorted(names)


def _started(drill: dict, score: dict | None, events: list, run: Run) -> float | None:
    for value in (drill.get("started_at"), ((score or {}).get("window") or {}).get("start"),
                  events[0].ts if events else None):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    try:  # the run id starts with its UTC creation time
        return float(calendar.timegm(time.strptime(run.id[:15], "%Y%m%d-%H%M%S")))
    except ValueError:
        return None


def _verdict(score: dict) -> str | None:
    verdict = score.get("verdict")
    if isinstance(verdict, dict):
        verdict = verdict.get("result") or verdict.get("status")
    return verdict if isinstance(verdict, str) else None


def _percent(score: dict) -> float | None:
    points = score.get("points")
    value = points.get("percent") if isinstance(points, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def read_row(run: Run) -> dict:
    """The row of one drill's folder (see the module docstring)."""
    row: dict = {"run_id": run.id, "path": str(run.path), "status": "scored",
                 "problem": None, "scenario": None, "title": None, "mode": None,
                 "started_at": None, "date": None, "verdict": None, "score_percent": None,
                 "ttd_s": None, "ttm_s": None, "ttr_s": None, "responders": []}
    try:
        drill = read_json(run.drill_file, notes=[]) or {}
        score = read_json(run.score, notes=[])
        events = read_timeline(run.timeline)[0] if run.timeline.exists() else []
    except GamedayError as err:  # names the file
        return {**row, "status": "broken", "problem": str(err)}
    source = score or drill
    row.update(scenario=source.get("scenario") or drill.get("scenario"),
               title=source.get("title") or drill.get("title"),
               mode=source.get("mode") or drill.get("mode"),
               responders=responders(drill, events))
    started = _started(drill, score, events, run)
    if started is not None:
        row["started_at"] = started
        row["date"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime(started))
    if score is None:
        row["status"] = "no score"
        row["problem"] = (f"{run.score}: not written (interrupted, or --no-outputs); "
                          f"'gameday report {run.id}' scores it")
        return row
    durations = score.get("durations_s") if isinstance(score.get("durations_s"), dict) else {}
    for key, out in TIMES:
        value = durations.get(key)
        row[out] = float(value) if isinstance(value, int | float) and \
            not isinstance(value, bool) else None
    row["verdict"] = _verdict(score)
    row["score_percent"] = _percent(score)
    return row


def _members(team: list[str] | str | None) -> set[str]:
    if team is None:
        return set()
    items = [team] if isinstance(team, str) else list(team)
    names = {n.strip().casefold() for item in items for n in item.split(",") if n.strip()}
    if not names:
        raise ValidationError(f"--team: expected one or more names (NAME or NAME,NAME), got "
                              f"{team!r}")
    return names


def history_rows(runs_dir: Path, team: list[str] | str | None = None) -> list[dict]:
    """One row per drill in ``runs_dir`` (``.gameday/runs``), oldest first; with ``team``,
    only the drills where one of its names responded (broken folders are always kept: who
    responded cannot be known)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise ValidationError(f"--runs-dir: no such folder {str(runs_dir)!r} (drills write "
                              f"their run folders under .gameday/runs)")
    members = _members(team)
    rows = []
    for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir()
                         and not p.name.startswith(".")):
        run = Run(folder)
        if not _is_drill(run):
            continue
        row = read_row(run)
        if members and row["status"] != "broken" and \
                not members & {n.casefold() for n in row["responders"]}:
            continue
        rows.append(row)
    rows.sort(key=lambda r: (r["started_at"] is None, r["started_at"] or 0, r["run_id"]))
    return rows


def draw_trend(rows: list[dict], out: Path) -> Path:
    """A PNG of the scored rows in order: score (%) above, time to detect, mitigate and
    recover (s) below. No scored row: a ValidationError (nothing to draw)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gameday.runfolder import atomic_write

    scored = [r for r in rows if r["status"] == "scored"]
    if not scored:
        raise ValidationError("--chart: no scored drill to draw (run a drill, or "
                              "'gameday report RUN' to score one)")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ValidationError(f"--chart: expected a .png file name, got {str(out)!r}")
    xs = list(range(1, len(scored) + 1))
    labels = [f"{r['date'] or r['run_id']}\n{r['scenario'] or '?'}" for r in scored]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(max(6, len(xs) * 1.2), 6),
                                      dpi=100)
    top.plot(xs, [r["score_percent"] if r["score_percent"] is not None else float("nan")
                  for r in scored], marker="o", color="tab:blue", label="score %")
    top.set_ylim(0, 105)
    top.set_ylabel("score (%)")
    top.set_title("gameday history: score and incident times per drill")
    for r, x in zip(scored, xs, strict=True):
        if r["verdict"] and r["score_percent"] is not None:
            top.annotate(r["verdict"], (x, r["score_percent"] or 0), fontsize=8,
                         textcoords="offset points", xytext=(0, 6), ha="center")
    for key, label, colour in (("ttd_s", "time to detect", "tab:red"),
                               ("ttm_s", "time to mitigate", "tab:purple"),
                               ("ttr_s", "time to recover", "tab:green")):
        bottom.plot(xs, [r[key] if r[key] is not None else float("nan") for r in scored],
                    marker="o", color=colour, label=label)
    bottom.set_ylabel("seconds from impact")
    bottom.set_ylim(bottom=0)
    bottom.legend(loc="upper right", fontsize=8)
    bottom.set_xticks(xs, labels, fontsize=7, rotation=30, ha="right")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return atomic_write(out, buf.getvalue())
