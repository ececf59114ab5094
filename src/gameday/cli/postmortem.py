"""``gameday postmortem new|lint``: a draft from a run folder, and a check fit for CI."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gameday.errors import GamedayError, OutputError

app = typer.Typer(help="Draft postmortems from a drill's run folder and lint them.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)


def _run_folder(value: Path) -> Path:
    """A path, or a run id under .gameday/runs/ of the working directory."""
    if not value.exists() and len(value.parts) == 1:
        from gameday.runfolder import runs_dir

        candidate = runs_dir() / value.name
        if candidate.is_dir():
            return candidate
    return value


@app.command("new")
def new(
    run: Path = typer.Option(..., "--run", help="Run folder (or run id under .gameday/runs/)."),
    out: Path = typer.Option(None, "--out", help="Where to write (default: <run>/postmortem.md)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    template: Path = typer.Option(None, "--template",
                                  help="Jinja2 template (default: runbooks/templates/"
                                       "postmortem.md.j2)."),
) -> None:
    """Write a postmortem draft with what the run knows; people fill in the TODO(human) prompts.

    Exit 0 written, 2 bad input (missing run folder, unreadable timeline, file exists).
    """
    from gameday.postmortem.render import new_postmortem
    from gameday.runfolder import Run
    from gameday.userfiles import check_output_file, decode_text, read_bounded

    run = _run_folder(run)
    if template is not None and template.exists():  # a missing one is named by the renderer
        decode_text(read_bounded(template, "template"), template)  # a file, bounded, UTF-8
    target = out if out is not None else Run(run).postmortem
    if out is not None or run.is_dir():  # a missing run folder is named by new_postmortem
        check_output_file(target, "the postmortem draft")
    try:
        path, facts = new_postmortem(run, out, force=force, template=template)
    except OSError as err:  # what no check can see first (a full disk, a race)
        raise OutputError(f"{err.filename or target}: cannot write the postmortem draft "
                          f"({err.strerror or err})") from None
    for note in facts["notes"]:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"wrote {path} ({len(facts['timeline'])} timeline events); "
               f"then: gameday postmortem lint {path}")


@app.command("lint")
def lint(
    file: Path = typer.Argument(..., help="Postmortem in Markdown."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    allow_prompts: bool = typer.Option(False, "--allow-prompts",
                                       help="Leftover TODO(human) prompts are not an error."),
) -> None:
    """Missing sections, leftover prompts, action items without owner or type, timeline
    order (errors); blaming language (warnings).

    Exit 0 clean (warnings allowed), 1 errors found, 2 unreadable input.
    """
    from gameday.postmortem.lint import as_dict, lint_file

    try:
        findings = lint_file(file, allow_prompts=allow_prompts)
    except GamedayError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    if as_json:
        typer.echo(json.dumps({"file": str(file), "errors": errors, "warnings": warnings,
                               "findings": [as_dict(f) for f in findings]}, indent=2))
    else:
        for f in findings:
            typer.echo(f"{file}:{f.line}: {f.level}[{f.code}]: {f.message}")
        typer.echo(f"{file}: {errors} error(s), {warnings} warning(s)")
    if errors:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="postmortem")
