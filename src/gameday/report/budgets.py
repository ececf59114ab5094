"""SLO status with budget consumed, for a finished run or a recording.

``gameday slo status|budget --run RUN`` and ``--from RECORDING`` read their figures here.
For a run the window is the drill's own (``RunRecord.window``, the window score.json uses) and
the events are counted by ``gameday.slo.consumption``, so the budget consumed they print is
the one score.json, the report and the postmortem print. For a bare recording the window is
the whole recording.
"""

from __future__ import annotations

from pathlib import Path

from gameday.engine.embedded import EmbeddedEngine
from gameday.engine.recording import read_recording
from gameday.errors import ValidationError
from gameday.slo.consumption import load_slos_for_rules, measure
from gameday.slo.status import SLOStatus, attach_use, collect_status

from .metrics import last_sample_time
from .run import DEFAULT_CATALOG, find_rules, load_run


def replay_statuses(recording: Path, rule_files: list[Path],
                    window: tuple[float, float] | None = None) -> list[SLOStatus]:
    """Replay ``recording`` through every rule and read each SLO's status at the end of
    ``window`` (default: the recording's span), with its budget use over the window."""
    engine = EmbeddedEngine(rule_files)
    header = engine.replay(recording)
    start = float(header["started_at"])
    end = last_sample_time(engine.store, start)
    a, b = window or (start, end)
    b = min(b, end)
    statuses = collect_status(engine, at=b)
    periods = {s.slo_id: s.period_days * 86400 for s in statuses
               if s.period_days == s.period_days}
    uses = measure(engine, load_slos_for_rules(rule_files), a, b, periods)
    return attach_use(statuses, {k: v for k, v in uses.items() if k in periods})


def run_statuses(run_path: Path) -> list[SLOStatus]:
    """The SLOs of a run folder over its drill window (what score.json reports)."""
    run = load_run(Path(run_path))
    if not run.recording.is_file():
        raise ValidationError(f"{run.recording}: the run has no recording; nothing to judge")
    files = find_rules(str(run.drill.get("catalog") or DEFAULT_CATALOG), run.drill)
    header, scrapes = read_recording(run.recording)
    last = float(header["started_at"])
    for scrape in scrapes:
        last = max(last, scrape.t)
    start, end = run.window((float(header["started_at"]), last))
    statuses = replay_statuses(run.recording, files, (start, end))
    return statuses if statuses else _none(run_path)


def _none(run_path: Path) -> list[SLOStatus]:
    raise ValidationError(f"{run_path}: no SLO rules matched the run's recording")
