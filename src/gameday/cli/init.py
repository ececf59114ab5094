"""``gameday init [DIR]``: a workspace with editable copies of the shipped resources."""

from __future__ import annotations

from pathlib import Path

import typer


def init(
    folder: Path = typer.Argument(Path("."), help="Workspace folder (default: here)."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that differ."),
) -> None:
    """Copy the scenarios (experiments/), SLO specs with their window catalogs and generated
    rules (slos/), runbooks and templates (runbooks/) and locustfiles (loadtests/) into
    FOLDER, to edit them. gameday reads them from there when run in FOLDER (or with
    $GAMEDAY_HOME=FOLDER). Files that exist with other content are left alone, and nothing
    is written, unless --force."""
    from gameday.resources import HOME_ENV, copy_workspace, plan_workspace

    from .render import relative

    written = copy_workspace(plan_workspace(folder, force))
    for path in written:
        typer.echo(f"wrote {relative(path)}")
    where = relative(folder)
    if not written:
        typer.echo(f"{where}: already up to date, nothing written")
        return
    typer.echo(f"{len(written)} file(s) in {where}; run gameday there, or set "
               f"{HOME_ENV}={folder.resolve()}; after editing slos/, run 'gameday slo "
               f"generate'")


def register(root: typer.Typer) -> None:
    root.command("init")(init)
