"""Append to and read ``<run>/timeline.jsonl`` (the contract is docs/timeline.md).

    append_event(run_path, "fault_start", who="chaos", service="classifier", fault={...})
    read_events(run_path)   # -> [{"ts": ..., "kind": ..., ...}], sorted by ts, stable

Appends never rewrite the file: one JSON line per event, opened in append mode, flushed and
fsynced, so a crash loses at most the line being written. Reading shares the postmortem's
parser (gameday.postmortem.timeline), which skips a torn last line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

TIMELINE = "timeline.jsonl"

__all__ = ["TIMELINE", "append_event", "read_events", "timeline_path"]


def timeline_path(run_path: str | Path) -> Path:
    """``run_path`` itself when it names a .jsonl file, else ``<run_path>/timeline.jsonl``."""
    path = Path(run_path)
    return path if path.suffix == ".jsonl" else path / TIMELINE


def append_event(run_path: str | Path, kind: str, ts: float | None = None, **fields) -> dict:
    """Append one event and return it; ``ts`` defaults to now (Unix seconds)."""
    if not isinstance(kind, str) or not kind.strip():
        raise ValueError(f"timeline event: 'kind' must be a non-empty string, got {kind!r}")
    event = {"ts": time.time() if ts is None else float(ts), "kind": kind, **fields}
    line = json.dumps(event, default=str, separators=(",", ":")) + "\n"
    path = timeline_path(run_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return event


def read_events(run_path: str | Path) -> list[dict]:
    """Events as dicts sorted by ``ts`` (stable); [] when the file does not exist yet."""
    from gameday.postmortem.timeline import read_timeline

    path = timeline_path(run_path)
    if not path.exists():
        return []
    events, _warnings = read_timeline(path)
    out = []
    for e in events:
        event = {"ts": e.ts, "kind": e.kind, **e.data}
        if e.who is not None:
            event["who"] = e.who
        if e.text:
            event["text"] = e.text
        out.append(event)
    return out
