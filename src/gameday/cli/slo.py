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


def _fmt_duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _pct(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value * 100:.{digits}f}%"


def _render_status(statuses) -> None:
    from rich.table import Table

    from gameday.cli.render import make_console

    table = Table(title="SLO status", title_justify="left")
    for col in ("SLO", "objective", "SLI now", "budget left", "burn rate by window", "alert",
                "exhausted in"):
        table.add_column(col)
    colour = {"page": "red", "ticket": "yellow", "pending": "cyan", "ok": "green"}
    for st in statuses:
        burns = "  ".join(f"{w}:{b:.1f}x" for w, b in st.burn_by_window.items() if b == b)
        table.add_row(st.slo_id, _pct(st.objective), _pct(st.sli), _pct(st.budget_remaining, 1),
                      burns or "-", f"[{colour[st.state]}]{st.state}[/]",
                      _fmt_duration(st.exhaustion_s))
    make_console().print(table)


def _live_embedded(as_json: bool, watch: bool) -> None:
    """The status the current run's monitor publishes each second."""
    import json
    import time

    from gameday.slo.status import SLOStatus
    from gameday.stack.control import load_state
    from gameday.stack.monitor import read_status

    run, _ = load_state()
    while True:
        body = read_status(run.path)
        if as_json:
            typer.echo(json.dumps(body, indent=2))
        else:
            statuses = []
            for raw in body["slos"]:
                fields = {k: (float("nan") if v is None else v) for k, v in raw.items()
                          if k not in ("state", "exhaustion_s")}
                statuses.append(SLOStatus(**fields))
            _render_status(statuses)
            if body["stale"]:
                typer.echo("warning: this status is more than 10 s old; is the stack running?",
                           err=True)
        if not watch:
            return
        time.sleep(1)


@app.command("status")
def status(
    engine: str = typer.Option("embedded", "--engine", help="embedded or prometheus."),
    url: str = typer.Option("http://127.0.0.1:9090", "--url", help="Prometheus URL."),
    recording: Path = typer.Option(None, "--from", help="Replay this recording (embedded)."),
    catalog: str = typer.Option("drill-12h", "--catalog",
                                help="Generated rules to evaluate (embedded)."),
    rules_dir: Path = typer.Option(SPEC_DIR / "_gen", "--rules", help="Generated rules root."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    watch: bool = typer.Option(False, "--watch", help="Refresh until Ctrl-C."),
) -> None:
    """Per SLO: objective, SLI now, budget left, burn rate per window, alert, exhaustion."""
    import json
    import time

    from gameday.metrics.engine import EmbeddedEngine, PrometheusEngine
    from gameday.slo.status import collect_status

    if engine not in ("embedded", "prometheus"):
        raise ValidationError(f"--engine: expected embedded or prometheus, got {engine!r}")
    if engine == "prometheus":
        source = PrometheusEngine(url)
    else:
        if recording is None:
            _live_embedded(as_json, watch)
            return
        if not recording.is_file():
            raise ValidationError(f"--from: no such recording {str(recording)!r}")
        files = sorted((rules_dir / catalog).glob("*.rules.yml"))
        if not files:
            raise ValidationError(f"--catalog: no generated rules in {rules_dir / catalog}; "
                                  f"run 'gameday slo generate'")
        source = EmbeddedEngine(files)
        source.replay(recording)
    while True:
        statuses = collect_status(source)
        if as_json:
            typer.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
        else:
            _render_status(statuses)
        if not watch or recording is not None:
            return
        time.sleep(2)
