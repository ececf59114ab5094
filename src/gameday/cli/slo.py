"""``gameday slo validate|generate|import-sloth``: SLOs as code."""

from __future__ import annotations

from pathlib import Path

import typer

from gameday.errors import ValidationError

app = typer.Typer(help="Validate SLO specs, generate Prometheus rules, import Sloth specs.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)

SPEC_DIR = Path("slos")


@app.command("validate")
def validate(
    paths: list[Path] = typer.Argument(None, help="Spec files or folders (default: slos/)."),
) -> None:
    """Check OpenSLO specs; one line per error, exit 2 if any."""
    from gameday.slo.validate import collect_slos
    from gameday.slo.windows import collect_catalog_errors

    paths = paths or [SPEC_DIR]
    slos, errors = collect_slos(paths)
    for path in paths:
        if (path / "windows").is_dir():
            errors += collect_catalog_errors(path / "windows", slos)
    for error in errors:
        typer.echo(f"error: {error}", err=True)
    if errors:
        raise typer.Exit(2)
    typer.echo(f"ok: {len(slos)} SLO(s): {', '.join(s.name for s in slos) or '-'}")


@app.command("generate")
def generate(
    catalogs: list[str] = typer.Option(None, "--catalog", help="Window catalog name, "
                                       "repeatable (default: every one in slos/windows/)."),
    spec_dir: Path = typer.Option(SPEC_DIR, "--specs", help="Folder of OpenSLO specs."),
    out_dir: Path = typer.Option(None, "--out", help="Output folder (default: SPECS/_gen)."),
    runbook_base: str = typer.Option("runbooks", "--runbook-base",
                                     help="Base of the alerts' runbook_url annotations."),
) -> None:
    """Write Prometheus rules and promtool tests to slos/_gen/<catalog>/."""
    from gameday.slo.storage import generate as run_generate

    written = run_generate(spec_dir, out_dir or spec_dir / "_gen", catalogs, runbook_base)
    for path in written:
        typer.echo(f"wrote {path}")


@app.command("import-sloth")
def import_sloth(
    file: Path = typer.Argument(..., help="Sloth prometheus/v1 spec (YAML)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write here (default: stdout)."),
    force: bool = typer.Option(False, "--force", help="Overwrite OUT if it exists."),
) -> None:
    """Convert a Sloth prometheus/v1 spec to OpenSLO v1 YAML."""
    from gameday.slo.sloth import convert_sloth_file

    if out is not None and out.exists() and not force:
        raise ValidationError(f"{out}: already exists; pass --force to overwrite it")
    text = convert_sloth_file(file)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text)
    typer.echo(f"wrote {out}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="slo")
