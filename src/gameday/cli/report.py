"""``gameday report RUN_DIR [--open]``: rebuild a run folder's score, charts and reports."""

from __future__ import annotations

from pathlib import Path

import typer


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
    with Console(stderr=True).status(f"replaying {path.name}'s recording and drawing charts"):
        written = write_report(path, rescore=rescore)
    for p in written:
        typer.echo(f"wrote {p}")
    html = path / "report.html"
    if open_:
        import webbrowser

        webbrowser.open(html.resolve().as_uri())


def register(root: typer.Typer) -> None:
    root.command("report")(report)
