"""The drill's timeline: ``<run>/timeline.jsonl``, its event model, kinds and phases.

This module is the one owner of the timeline (the contract is docs/timeline.md)::

    append_event(run_path, "fault_start", who="chaos", service="classifier", fault={...})
    read_events(run_path)          # -> [{"ts": ..., "kind": ..., ...}], sorted by ts, stable
    read_timeline(path)            # -> ([Event, ...], warnings), what reports read
    TimelineReader(run_path).new_events()   # only what was appended since the last call

Appends never rewrite the file: one JSON line per event, opened in append mode, flushed and
fsynced, so a crash loses at most the line being written. Every line is strict JSON in
UTF-8 whatever the fields hold: strings are cleaned (a lone surrogate becomes U+FFFD),
non-finite numbers become null and other objects their text (gameday.text.clean_json).
Only ``ts`` (Unix seconds) and ``kind`` are required of a line; every other field is kept.
A bad line (torn by a killed writer, not UTF-8, not JSON, not an event) is skipped with a
warning that names the file and the line, so one bad line never costs the run its report
or postmortem.

``KINDS`` is the canonical list of what gameday writes (tests/unit/test_timeline_kinds.py
checks it against every emitter); ``PHASES`` and ``phase_times`` are the one definition of
the incident's phases that the score, the report and the postmortem share.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from gameday.errors import ValidationError
from gameday.runfolder import SEALED_ENV, TIMELINE
from gameday.text import clean_json, find_bad_text

__all__ = ["KINDS", "PHASES", "TIMELINE", "Event", "TimelineReader", "append_event",
           "fault_windows", "first", "last", "phase_times", "read_events", "read_timeline",
           "timeline_path"]

# Every kind gameday writes, in the order of a drill (docs/timeline.md describes each).
KINDS = (
    "run_start", "load_start", "steady_state", "experiment_start", "activity_start",
    "activity_end", "load_surge", "fault_start", "fault_end", "safeguard_tripped",
    "alert_firing", "page", "ticket", "alert_resolved", "ack", "role", "note", "hint",
    "escalate", "diagnosis", "diagnosis_judged", "mitigation", "recovered",
    "resolve_refused", "resolve", "pause", "resume", "extend", "abort", "detection_missed",
    "recovery_timeout", "drill_error",
    "experiment_end", "load_stop", "run_end",
)

# (key in score.json "phases", label, timeline kinds that mark it).
# Impact starts with the first fault, or with the load the experiment adds when extra traffic
# is all it does (an overload); the drill's own steady load (load_start) is not an impact.
PHASES = (
    ("impact_start", "Impact started", ("fault_start", "load_surge")),
    ("detected", "Detected (first alert firing)", ("alert_firing", "page")),
    ("acknowledged", "Acknowledged", ("ack",)),
    ("mitigated", "Mitigated (first lever that helped)", ("mitigation",)),
    ("recovered", "Recovered (steady state met again)", ("recovered",)),
    ("resolved", "Resolved (declared over)", ("resolve",)),
)


def timeline_path(run_path: str | Path) -> Path:
    """``run_path`` itself when it names a .jsonl file, else ``<run_path>/timeline.jsonl``."""
    path = Path(run_path)
    return path if path.suffix == ".jsonl" else path / TIMELINE


def append_event(run_path: str | Path, kind: str, ts: float | None = None, **fields) -> dict:
    """Append one event and return it; ``ts`` defaults to now (Unix seconds)."""
    if not isinstance(kind, str) or not kind.strip():
        raise ValueError(f"timeline event: 'kind' must be a non-empty string, got {kind!r}")
    event = clean_json({"ts": time.time() if ts is None else float(ts), "kind": kind,
                        **fields})
    if event["ts"] is None:
        raise ValueError(f"timeline event: 'ts' must be a finite number, got {ts!r}")
    line = json.dumps(event, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"
    # a wheel's chaos process: sealed until the drill ends (gameday.drill.experiment)
    path = timeline_path(os.environ.get(SEALED_ENV) or run_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return event


@dataclass(frozen=True)
class Event:
    ts: float
    kind: str
    who: str | None = None
    text: str = ""
    data: dict = field(default_factory=dict)
    line: int = 0

    def get(self, key: str, default=None):
        return self.data.get(key, default)


def parse_event(obj: object, where: str) -> Event:
    if not isinstance(obj, dict):
        raise ValidationError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    ts = obj.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise ValidationError(f"{where}: 'ts' must be Unix seconds (a number), got {ts!r}")
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind.strip():
        raise ValidationError(f"{where}: 'kind' must be a non-empty string, got {kind!r}")
    who = obj.get("who")
    if who is not None and not isinstance(who, str):
        raise ValidationError(f"{where}: 'who' must be a string, got {who!r}")
    text = obj.get("text", "")
    data = {k: v for k, v in obj.items() if k not in ("ts", "kind", "who", "text")}
    return Event(float(ts), kind.strip(), who, "" if text is None else str(text), data)


def read_timeline(path: Path) -> tuple[list[Event], list[str]]:
    """Events sorted by time (stable), and warnings naming each line skipped or repaired.
    Only a missing or unreadable file is an error."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file (a drill writes it; see docs/timeline.md)")\
            from None
    except OSError as err:
        raise ValidationError(f"{path}: cannot read: {err.strerror or err}") from None
    warnings: list[str] = []
    events = _parse_lines(raw.split(b"\n"), path, 1, warnings,
                          torn_last=not raw.endswith(b"\n"))
    events.sort(key=lambda e: e.ts)
    return events, warnings


def _parse_lines(lines: list[bytes], path: Path, first_number: int, warnings: list[str],
                 torn_last: bool = False) -> list[Event]:
    """Events of these lines (numbered from ``first_number``), in file order; each line
    skipped or repaired adds a warning naming it. ``torn_last``: the last line was cut off
    by a writer that died, and is reported as such."""
    events = []
    for number, data in enumerate(lines, start=first_number):
        if not data.strip():
            continue
        where = f"{path}:{number}"
        try:
            event = _parse_line(data, where)
        except ValidationError as err:
            if torn_last and number == first_number + len(lines) - 1:
                warnings.append(f"{where}: skipped an unfinished last line")
            else:
                warnings.append(f"{err}; line skipped")
            continue
        if _has_bad_text(event):
            warnings.append(f"{where}: text that is not valid Unicode replaced by U+FFFD")
        events.append(_clean(event, number))
    return events


def _has_bad_text(event: Event) -> bool:
    return find_bad_text(event.data, "") is not None or find_bad_text(
        [event.who, event.text, event.kind], "") is not None


def _clean(event: Event, line: int) -> Event:
    """The event with its line number, text that is not valid Unicode replaced."""
    if _has_bad_text(event):
        kind, who, text = clean_json([event.kind, event.who, event.text])
        return Event(event.ts, kind, who, text, clean_json(event.data), line)
    return Event(event.ts, event.kind, event.who, event.text, event.data, line)


def _parse_line(data: bytes, where: str) -> Event:
    try:
        line = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{where}: not UTF-8 text") from None
    try:
        obj = json.loads(line)
    except ValueError as err:  # JSONDecodeError, or an integer of over 4300 digits
        raise ValidationError(f"{where}: not valid JSON: {getattr(err, 'msg', err)}") from None
    except RecursionError:
        raise ValidationError(f"{where}: not valid JSON: nested too deeply") from None
    try:
        return parse_event(obj, where)
    except OverflowError:  # a 'ts' integer beyond any float
        raise ValidationError(f"{where}: 'ts' must be Unix seconds, got a number too large")\
            from None


def first(events: list[Event], *kinds: str) -> Event | None:
    return next((e for e in events if e.kind in kinds), None)


def last(events: list[Event], *kinds: str) -> Event | None:
    return next((e for e in reversed(events) if e.kind in kinds), None)


def fault_windows(events: list[Event]) -> list[tuple[float, float | None]]:
    """``(start, end)`` of each injected fault. A fault ends at the first ``fault_end`` after
    it or when its TTL runs out, whichever comes first: the services drop an expired fault
    on their own and nothing writes an event for that. ``end`` is None when neither is known."""
    ends = [e.ts for e in events if e.kind == "fault_end"]
    windows = []
    for e in events:
        if e.kind != "fault_start":
            continue
        fault = e.get("fault")
        ttl = fault.get("ttl_s") if isinstance(fault, dict) else None
        known = [t for t in ends if t >= e.ts][:1]
        if isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl >= 0:
            known.append(e.ts + ttl)
        windows.append((e.ts, min(known) if known else None))
    return windows


def phase_times(events: list[Event]) -> dict[str, float | None]:
    """Unix seconds of each phase: the first event of its kinds, taken at or after impact
    start when that is known, so that an earlier unrelated alert does not count as
    detection. The "mitigated" entry here is the first lever pulled; the score narrows it
    to the first lever that helped (gameday.report.grading)."""
    times: dict[str, float | None] = {}
    start = None
    for key, _, kinds in PHASES:
        after = [e for e in events if start is None or e.ts >= start]
        event = first(after, *kinds)
        times[key] = event.ts if event else None
        if key == "impact_start":
            start = times[key]
    return times


def read_events(run_path: str | Path) -> list[dict]:
    """Events as dicts sorted by ``ts`` (stable); [] when the file does not exist yet."""
    path = timeline_path(run_path)
    if not path.exists():
        return []
    events, _warnings = read_timeline(path)
    return [event_dict(e) for e in events]


def event_dict(e: Event) -> dict:
    """An Event back in the shape of its line."""
    event = {"ts": e.ts, "kind": e.kind, **e.data}
    if e.who is not None:
        event["who"] = e.who
    if e.text:
        event["text"] = e.text
    return event


class TimelineReader:
    """Reads a timeline as it grows: each ``new_events()`` parses only the complete lines
    appended since the previous call (the drill controller polls it every half second
    instead of re-reading the whole file). Bad lines are skipped as ``read_timeline`` does;
    a line still being written is left for the next call."""

    def __init__(self, run_path: str | Path) -> None:
        self.path = timeline_path(run_path)
        self.offset = 0
        self.lines = 0
        self.events: list[Event] = []  # everything read so far, in file order
        self.warnings: list[str] = []

    def new_events(self) -> list[Event]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        lines = chunk[:end].split(b"\n")
        fresh = _parse_lines(lines, self.path, self.lines + 1, self.warnings)
        self.lines += len(lines)
        self.events.extend(fresh)
        return fresh

    def first(self, *kinds: str) -> Event | None:
        """The earliest event of these kinds read so far (reads what is new first)."""
        self.new_events()
        found = [e for e in self.events if e.kind in kinds]
        return min(found, key=lambda e: e.ts) if found else None
