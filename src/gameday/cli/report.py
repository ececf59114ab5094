"""``gameday report RUN_DIR [--open]``: rebuild a run folder's score, charts and reports."""

from __future__ import annotations

from pathlib import Path

import typer

from gameday.errors import OutputError, ValidationError
from gameday.runfolder import REPORT_OUTPUTS, Run


def report(
    run: Path = typer.Argument(..., help="Run folder (or run id under .gameday/runs/)."),
    rescore: bool = typer.Option(False, "--rescore",
                                 help="Recompute score.json even when the drill wrote one."),
    open_: bool = typer.Option(False, "--open", help="Open report.html in a browser."),
) -> None:
    """Write score.json (if absent), charts/*.png, report.md and report.html from the run's
    timeline.jsonl and recording.jsonl.gz.

    Exit 0 written, 2 bad input (missing run folder, timeline or recording; unreadable file).
    """
    from rich.console import Console

    from gameday.cli.postmortem import _run_folder
    from gameday.report import validate_run, write_report

    path = _run_folder(run)
    validate_run(path)
    _check_outputs(path)
    try:
        with Console(stderr=True).status(f"replaying {path.name}'s recording and drawing "
                                         f"charts"):
            written = write_report(path, rescore=rescore)
    except OSError as err:  # what no check can see first (a full disk, a race)
        raise OutputError(f"{err.filename or path}: cannot write the report "
                          f"({err.strerror or err})") from None
    for p in written:
        typer.echo(f"wrote {p}")
    html = Run(path).report_html
    if open_:
        import webbrowser

        webbrowser.open(html.resolve().as_uri())


OUTPUTS = REPORT_OUTPUTS


def _check_outputs(path: Path) -> None:
    """Before any work: the run folder takes new files, and nothing of another kind sits
    where the report's files go (each is written beside and renamed into place)."""
    from gameday.userfiles import check_writable_folder

    check_writable_folder(path, "the report")
    for name in OUTPUTS:
        out = path / name
        if out.is_symlink() or (out.exists() and not out.is_file()):
            raise ValidationError(f"{out}: not a regular file; the report writes its "
                                  f"{name} there: move it away first")
    charts = Run(path).charts_dir
    if charts.is_symlink() or (charts.exists() and not charts.is_dir()):
        raise ValidationError(f"{charts}: not a folder; the report draws its charts there")
    check_writable_folder(charts, "the report's charts")


def register(root: typer.Typer) -> None:
    root.command("report")(report)
