"""Append to and read ``<run>/timeline.jsonl`` (the contract is docs/timeline.md).

    append_event(run_path, "fault_start", who="chaos", service="classifier", fault={...})
    read_events(run_path)   # -> [{"ts": ..., "kind": ..., ...}], sorted by ts, stable

Appends never rewrite the file: one JSON line per event, opened in append mode, flushed and
fsynced, so a crash loses at most the line being written. Every line is strict JSON in
UTF-8 whatever the fields hold: strings are cleaned (a lone surrogate becomes U+FFFD),
non-finite numbers become null and other objects their text (gameday.text.clean_json).
Reading shares the postmortem's parser (gameday.postmortem.timeline), which skips and
reports a bad line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from gameday.text import clean_json

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
    event = clean_json({"ts": time.time() if ts is None else float(ts), "kind": kind,
                        **fields})
    if event["ts"] is None:
        raise ValueError(f"timeline event: 'ts' must be a finite number, got {ts!r}")
    line = json.dumps(event, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"
    path = timeline_path(run_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
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
