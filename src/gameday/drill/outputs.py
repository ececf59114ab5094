"""After a drill (finished or interrupted): score, report with charts, postmortem draft."""

from __future__ import annotations

from pathlib import Path

from gameday.errors import GamedayError


def write_outputs(run_path: Path, progress=None) -> tuple[list[Path], list[str]]:
    """Every output the run folder can give; returns (written files, problems)."""
    written: list[Path] = []
    problems: list[str] = []

    def step(what: str) -> None:
        if progress is not None:
            progress(what)

    step("score, charts and report")
    try:
        from gameday.report import write_report

        written += list(write_report(run_path))
    except (GamedayError, OSError, ValueError) as err:
        problems.append(f"report: {err}")
    step("postmortem draft")
    try:
        from gameday.postmortem.render import new_postmortem

        path, _ = new_postmortem(run_path)
        written.append(path)
    except (GamedayError, OSError, ValueError) as err:
        problems.append(f"postmortem draft: {err}")
    # the embedded engine says when it fell behind its rule schedule (a busy machine)
    from gameday.stack.monitor import evaluation_notes

    problems += evaluation_notes(run_path)
    return written, problems
