"""Supervisor events, one JSON object per line in ``<run>/logs/supervisor.log``.

``{"ts": 1795000008.02, "event": "exited", "process": "classifier-1", "code": 137,
"reason": "Killed (SIGKILL)"}``. Drills read them to put restarts on the timeline.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, event: str, process: str | None = None, **fields) -> None:
        entry = {"ts": round(time.time(), 3), "event": event}
        if process is not None:
            entry["process"] = process
        entry.update(fields)
        line = json.dumps(entry, default=str) + "\n"
        with self._lock, open(self.path, "a") as fh:
            fh.write(line)


def read_events(path: Path) -> list[dict]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out
