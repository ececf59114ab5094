"""What a finished (or stopped) drill's run folder says, read for the report.

Files (docs/timeline.md, docs/drill-outputs.md; their names: ``gameday.runfolder.Run``):
the timeline (required), the recording (the metrics; optional for a run killed before its
first scrape), drill.json (the drill's metadata; optional) and stack.json (optional). Phases
come from ``gameday.timeline.PHASES`` so the score and the draft agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gameday.engine.recording import read_recording
from gameday.errors import ValidationError
from gameday.runfolder import Run, read_json
from gameday.slo.names import DRILL_CATALOG
from gameday.timeline import Event, first, read_timeline

DEFAULT_CATALOG = DRILL_CATALOG


@dataclass
class RunRecord:
    """A run folder (``folder``) with what it recorded: events, drill.json, stack.json,
    and notes on what was missing or skipped."""

    path: Path
    events: list[Event]
    drill: dict
    stack: dict
    notes: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Run:
        return Run(self.path)

    @property
    def recording(self) -> Path:
        return self.folder.recording

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


def validate_run(run_path: Path, need_recording: bool = True) -> None:
    """Raise ValidationError naming the missing or bad file of a run folder."""
    run_path = Path(run_path)
    if not run_path.is_dir():
        raise ValidationError(f"{run_path}: no such run folder")
    run = Run(run_path)
    read_timeline(run.timeline)
    if need_recording:
        if not run.recording.is_file():
            raise ValidationError(f"{run.recording}: no such recording (the drill writes it)")
        header, scrapes = read_recording(run.recording)
        scrapes.close()
    for path in (run.drill_file, run.state_path):
        read_json(path, [])


def load_run(run_path: Path) -> RunRecord:
    run_path = Path(run_path)
    if not run_path.is_dir():
        raise ValidationError(f"{run_path}: no such run folder")
    run = Run(run_path)
    notes: list[str] = []
    events, warnings = read_timeline(run.timeline)
    drill = read_json(run.drill_file, notes) or {}
    stack = read_json(run.state_path, notes) or {}
    return RunRecord(run_path, events, drill, stack, notes + warnings)


def find_rules(catalog: str, drill: dict | None = None) -> list[Path]:
    """Generated rule files of ``catalog``: drill.json's ``rules_dir`` when it still has
    them, else those of the SLO specs in use (gameday.resources)."""
    from gameday.resources import rule_files, rules_dir

    given = (drill or {}).get("rules_dir")
    files = rule_files(Path(given)) if given else []
    return files or rule_files(rules_dir(catalog))
