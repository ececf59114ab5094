"""``gameday history``: a learner's or a team's drills, their scores and times, the trend."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _seconds(value) -> str:
    return f"{value:.0f} s" if isinstance(value, int | float) else "-"


def history(
    runs_dir: Path = typer.Option(None, "--runs-dir",
                                  help="Folder of run folders (default: .gameday/runs here)."),
    team: list[str] = typer.Option(None, "--team",
                                   help="Only drills where one of these people responded "
                                        "(took a role or acted): NAME or NAME,NAME; "
                                        "repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    chart: Path = typer.Option(None, "--chart", help="Draw the trend (score, time to detect, "
                                                     "mitigate, recover) to this PNG file."),
) -> None:
    """Your drills, oldest first: scenario, mode, date, verdict, score and the times to
    detect, mitigate and recover from each run's score.json. Drills without a score and
    folders that cannot be read are listed too, with the file to look at."""
    from rich.table import Table

    from gameday.report.history import draw_trend, history_rows
    from gameday.runfolder import runs_dir as default_runs_dir

    from .render import make_console, relative

    if runs_dir is None and not default_runs_dir().is_dir():
        rows = []  # no drill has run in this folder yet
    else:
        rows = history_rows(runs_dir if runs_dir is not None else default_runs_dir(), team)
    written = draw_trend(rows, chart) if chart is not None else None
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    console = make_console()
    if not rows:
        console.print("no drills yet" + (" for this team" if team else "") +
                      ": run 'gameday demo' or 'gameday drill run SCENARIO'", highlight=False)
    else:
        table = Table(title_justify="left")
        for col in ("run", "date (UTC)", "scenario", "mode", "verdict", "score", "detect",
                    "mitigate", "recover", "responders"):
            table.add_column(col, justify="right" if col in ("score", "detect", "mitigate",
                                                             "recover") else "left")
        for r in rows:
            score = f"{r['score_percent']:.0f}%" if r["score_percent"] is not None else "-"
            table.add_row(r["run_id"], r["date"] or "-", r["scenario"] or "-", r["mode"] or "-",
                          r["verdict"] or r["status"], score, _seconds(r["ttd_s"]),
                          _seconds(r["ttm_s"]), _seconds(r["ttr_s"]),
                          ", ".join(r["responders"]) or "-")
        console.print(table)
        for r in rows:
            if r["status"] != "scored":
                console.print(f"{r['status']}: {r['problem']}", highlight=False, markup=False,
                              soft_wrap=True)
    if written is not None:
        console.print(f"wrote {relative(written)}", highlight=False, markup=False,
                      soft_wrap=True)


def register(root: typer.Typer) -> None:
    root.command("history")(history)
