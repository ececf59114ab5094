"""``gameday chaos run EXPERIMENT``: plain ``chaos run`` against a run, judged by its journal.

``chaos run`` exits 0 when a method action fails or the baseline steady state is not met;
this command reads the journal and exits 1 in those cases too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import typer

from gameday.chaos.command import chaos_command
from gameday.errors import ValidationError

app = typer.Typer(help="Run Chaos Toolkit experiments against the stack.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)


@app.command("run")
def run(
    experiment: Path = typer.Argument(..., help="Experiment file (JSON or YAML)."),
    run_ref: str = typer.Option(None, "--run", help="Run id or folder (default: current run)."),
    rollback_strategy: str = typer.Option(None, "--rollback-strategy",
                                          help="default|always|never|deviated"),
    hypothesis_strategy: str = typer.Option(None, "--hypothesis-strategy",
                                            help="default|before-method-only|continuously..."),
    var: list[str] = typer.Option(None, "--var", help="NAME=VALUE for chaos run, repeatable."),
) -> None:
    """Run EXPERIMENT with 'chaos run' (GAMEDAY_RUN set), then judge its journal."""
    from gameday.chaos.context import ENV_RUN
    from gameday.chaos.journal import read_journal
    from gameday.runfolder import resolve_run

    if not experiment.is_file():
        raise ValidationError(f"EXPERIMENT: no such file {str(experiment)!r}")
    ref = Path(run_ref).resolve() if run_ref and ("/" in run_ref or run_ref == ".") else run_ref
    r = resolve_run(ref)
    out = r.chaos_dir
    out.mkdir(exist_ok=True)
    name = experiment.stem
    journal = r.chaos_journal(name)
    journal.unlink(missing_ok=True)
    extra = []
    if rollback_strategy:
        extra += ["--rollback-strategy", rollback_strategy]
    if hypothesis_strategy:
        extra += ["--hypothesis-strategy", hypothesis_strategy]
    for v in var or []:
        extra += ["--var", v]
    argv = chaos_command(experiment.resolve(), journal, r.chaos_log(name), extra)
    typer.echo(f"chaos run {experiment} against run {r.id} (journal {journal})", err=True)
    proc = subprocess.run(argv, env={**os.environ, ENV_RUN: str(r.path)})
    if not journal.exists():
        typer.echo(f"FAILED: chaos run exited {proc.returncode} without a journal; see "
                   f"{r.chaos_log(name)}")
        raise typer.Exit(1)
    outcome = read_journal(journal)
    typer.echo(outcome.verdict())
    if not outcome.ok or proc.returncode != 0:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="chaos")
