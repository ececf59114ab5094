"""Read ``<run>/timeline.jsonl``: one JSON object per line, the event shape of docs/timeline.md.

Only ``ts`` (Unix seconds) and ``kind`` are required; every other field is kept as it is.
A bad line (torn by a killed writer, not UTF-8, not JSON, not an event) is skipped with a
warning that names the file and the line, so one bad line never costs the run its report
or postmortem; text that is not valid Unicode (a lone surrogate) is replaced by U+FFFD.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from gameday.errors import ValidationError
from gameday.text import clean_json, find_bad_text

TIMELINE = "timeline.jsonl"

KINDS = (
    "run_start", "steady_state", "load_start", "load_surge", "fault_start", "fault_end",
    "alert_pending", "alert_firing", "alert_resolved", "page", "ack", "note", "escalate",
    "role", "mitigation", "hint", "diagnosis", "diagnosis_judged", "recovered",
    "resolve_refused", "resolve", "load_stop", "run_end",
)


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
    lines = raw.split(b"\n")
    torn_last = not raw.endswith(b"\n")
    events: list[Event] = []
    warnings: list[str] = []
    for number, data in enumerate(lines, start=1):
        if not data.strip():
            continue
        where = f"{path}:{number}"
        try:
            event = _parse_line(data, where)
        except ValidationError as err:
            if torn_last and number == len(lines):
                warnings.append(f"{where}: skipped an unfinished last line")
            else:
                warnings.append(f"{err}; line skipped")
            continue
        if find_bad_text(event.data, "") is not None or find_bad_text(
                [event.who, event.text, event.kind], "") is not None:
            warnings.append(f"{where}: text that is not valid Unicode replaced by U+FFFD")
            event = Event(event.ts, *clean_json([event.kind, event.who, event.text]),
                          data=clean_json(event.data))
        events.append(Event(event.ts, event.kind, event.who, event.text, event.data, number))
    events.sort(key=lambda e: e.ts)
    return events, warnings


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
