"""A drill's run folder, read for the report: timeline, drill.json, the drill window.

Files (docs/timeline.md, docs/drill-outputs.md): ``timeline.jsonl`` (required),
``recording.jsonl.gz`` (the metrics; optional for a run killed before its first scrape),
``drill.json`` (the drill's metadata; optional). Phases reuse the postmortem's definitions
(``gameday.timeline.PHASES``) so the score and the draft agree.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gameday.errors import ValidationError
from gameday.metrics.recording import read_recording
from gameday.postmortem.facts import STACK
from gameday.timeline import TIMELINE, Event, first, read_timeline

RECORDING = "recording.jsonl.gz"
DRILL = "drill.json"
DEFAULT_CATALOG = "drill-12h"


@dataclass
class Run:
    path: Path
    events: list[Event]
    drill: dict
    stack: dict
    notes: list[str] = field(default_factory=list)

    @property
    def recording(self) -> Path:
        return self.path / RECORDING

    @property
    def run_id(self) -> str:
        return str(self.drill.get("run_id") or self.stack.get("run_id") or self.path.name)

    def event_time(self, *kinds: str) -> float | None:
        event = first(self.events, *kinds)
        return event.ts if event else None

    def of_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]

    @property
    def ended(self) -> bool:
        return _num(self.drill.get("ended_at")) is not None or bool(self.of_kind("run_end"))

    def window(self, recording_span: tuple[float, float] | None = None) -> tuple[float, float]:
        """(start, end) of the drill: drill.json, else run_start/run_end, else the events and
        the recording's own span."""
        span = recording_span or (None, None)
        times = [e.ts for e in self.events]
        start = _num(self.drill.get("started_at")) or self.event_time("run_start") \
            or min([t for t in (times[:1] + [span[0]]) if t is not None], default=0.0)
        end = _num(self.drill.get("ended_at")) or self.event_time("run_end") \
            or max([t for t in (times[-1:] + [span[1]]) if t is not None], default=start)
        return start, max(start, end)


def _num(value) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _read_json(path: Path, notes: list[str]) -> dict:
    if not path.exists():
        notes.append(f"{path.name}: not in the run folder")
        return {}
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValidationError(f"{path}: not readable JSON: {err}") from None
    if not isinstance(body, dict):
        raise ValidationError(f"{path}: expected a JSON object, got {type(body).__name__}")
    return body


def validate_run(run_path: Path, need_recording: bool = True) -> None:
    """Raise ValidationError naming the missing or bad file of a run folder."""
    run_path = Path(run_path)
    if not run_path.is_dir():
        raise ValidationError(f"{run_path}: no such run folder")
    read_timeline(run_path / TIMELINE)
    recording = run_path / RECORDING
    if need_recording:
        if not recording.is_file():
            raise ValidationError(f"{recording}: no such recording (the drill writes it)")
        header, scrapes = read_recording(recording)
        scrapes.close()
    for name in (DRILL, STACK):
        _read_json(run_path / name, [])


def load_run(run_path: Path) -> Run:
    run_path = Path(run_path)
    if not run_path.is_dir():
        raise ValidationError(f"{run_path}: no such run folder")
    notes: list[str] = []
    events, warnings = read_timeline(run_path / TIMELINE)
    drill = _read_json(run_path / DRILL, notes)
    stack = _read_json(run_path / STACK, notes)
    return Run(run_path, events, drill, stack, notes + warnings)


def find_rules(catalog: str, drill: dict | None = None) -> list[Path]:
    """Generated rule files of ``catalog``: drill.json's ``rules_dir`` when it still has
    them, else those of the SLO specs in use (gameday.resources)."""
    from gameday.resources import rule_files, rules_dir

    given = (drill or {}).get("rules_dir")
    files = rule_files(Path(given)) if given else []
    return files or rule_files(rules_dir(catalog))


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
