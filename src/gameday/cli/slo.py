"""``gameday slo validate|generate|import-sloth``: SLOs as code."""

from __future__ import annotations

from pathlib import Path

import typer

from gameday import resources
from gameday.cli.render import relative
from gameday.errors import ValidationError
from gameday.slo.names import DRILL_CATALOG

app = typer.Typer(help="Validate SLO specs, generate Prometheus rules, import Sloth specs.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)

@app.command("validate")
def validate(
    paths: list[Path] = typer.Argument(None, help="Spec files or folders (default: slos/)."),
) -> None:
    """Check OpenSLO specs; one line per error, exit 2 if any."""
    from gameday.slo.validate import collect_slos
    from gameday.slo.windows import collect_catalog_errors

    paths = paths or [Path(relative(resources.slos_dir()))]
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
    spec_dir: Path = typer.Option(None, "--specs", help="Folder of OpenSLO specs (default: "
                                  "slos/ of $GAMEDAY_HOME or the working directory)."),
    out_dir: Path = typer.Option(None, "--out", help="Output folder (default: SPECS/_gen)."),
    runbook_base: str = typer.Option("runbooks", "--runbook-base",
                                     help="Base of the alerts' runbook_url annotations."),
    k8s: bool = typer.Option(False, "--k8s", help="Also the Prometheus Operator's "
                                                  "PrometheusRule manifests under deploy/k8s/."),
) -> None:
    """Write Prometheus rules and promtool tests to slos/_gen/<catalog>/."""
    from gameday.slo.storage import generate as run_generate

    spec_dir = spec_dir or Path(relative(resources.slos_dir(editable=True)))
    written = run_generate(spec_dir, out_dir or spec_dir / "_gen", catalogs, runbook_base)
    if k8s:
        from gameday.slo.k8s import generate_k8s

        written += generate_k8s(spec_dir, catalogs, runbook_base)
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
    from gameday.userfiles import check_output_file, load_yaml_documents

    if out is not None:
        check_output_file(out, "the OpenSLO spec")
        if out.exists() and not force:
            raise ValidationError(f"{out}: already exists; pass --force to overwrite it")
    load_yaml_documents(file, "Sloth spec")  # bounded: size, depth, numbers, one line if not
    text = convert_sloth_file(file)
    if out is None:
        typer.echo(text, nl=False)
        return
    from gameday.postmortem.render import write_new  # temp file + rename, no clobbering

    write_new(out, text, force=force)
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
    from gameday.slo.consumption import format_consumed
    from gameday.slo.names import format_duration
    from gameday.slo.status import window_seconds

    spans = sorted({round(st.span_s) for st in statuses if st.span_s == st.span_s})
    periods = sorted({st.period_days for st in statuses if st.period_days == st.period_days})
    title = "SLO status"
    if len(spans) == 1 and len(periods) == 1:
        title += (f" (budget used: share of the {format_duration(periods[0] * 86400)} "
                  f"period's budget consumed over {format_duration(spans[0])} of data)")
    table = Table(title=title, title_justify="left")
    for col in ("SLO", "objective", "SLI now", "budget used", "bad / total events",
                "burn rate by window", "alert"):
        table.add_column(col)
    colour = {"page": "red", "ticket": "yellow", "pending": "cyan", "ok": "green"}
    for st in statuses:
        # a window longer than the data is mostly empty: its ratio says nothing yet
        burns = "  ".join(f"{w}:-" if st.span_s == st.span_s and window_seconds(w) > st.span_s
                          else f"{w}:{b:.1f}x" for w, b in st.burn_by_window.items() if b == b)
        use = st.use or {}
        events = "-" if use.get("total") is None else \
            f"{round(use.get('bad') or 0):,} / {round(use['total']):,}"
        table.add_row(st.slo_id, _pct(st.objective), _pct(st.sli), format_consumed(st.consumed),
                      events, burns or "-", f"[{colour[st.state]}]{st.state}[/]")
    make_console().print(table)


def _live_embedded(as_json: bool, watch: bool) -> None:
    """The status the current run's monitor publishes each second."""
    import json
    import time

    from gameday.slo.status import from_json
    from gameday.stack.control import load_state
    from gameday.stack.monitor import read_status

    run, _ = load_state()
    while True:
        body = read_status(run.path)
        if as_json:
            typer.echo(json.dumps(body, indent=2))
        else:
            _render_status([from_json(raw) for raw in body["slos"]])
            if body["stale"]:
                typer.echo("warning: this status is more than 10 s old; is the stack running?",
                           err=True)
        if not watch:
            return
        time.sleep(1)


def _stack_prometheus_url() -> str:
    """The running stack's Prometheus, else the usual local address."""
    from gameday.errors import GamedayError
    from gameday.stack.control import load_state, supervisor_alive

    try:
        _, state = load_state()
    except GamedayError:
        return "http://127.0.0.1:9090"
    if supervisor_alive(state) and state.prometheus_url:
        return state.prometheus_url
    return "http://127.0.0.1:9090"


@app.command("status")
def status(
    engine: str = typer.Option("embedded", "--engine", help="embedded or prometheus."),
    url: str = typer.Option(None, "--url",
                            help="Prometheus URL (default: the Prometheus of the running "
                                 "stack, started by 'gameday up --prometheus', else "
                                 "http://127.0.0.1:9090)."),
    recording: Path = typer.Option(None, "--from", help="Replay this recording (embedded)."),
    run: str = typer.Option(None, "--run", help="A finished run (id or folder): its "
                            "recording over the drill's window, as score.json reports it."),
    catalog: str = typer.Option(DRILL_CATALOG, "--catalog",
                                help="Generated rules to evaluate (embedded)."),
    rules_dir: Path = typer.Option(None, "--rules", help="Generated rules root (default: "
                                   "slos/_gen)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    watch: bool = typer.Option(False, "--watch", help="Refresh until Ctrl-C."),
) -> None:
    """Per SLO: objective, SLI now, budget used (share of the period's budget consumed over
    the data: the stack's run, the recording, or the drill window with --run), burn rate
    per window, alert."""
    import json
    import time

    if engine == "embedded" and recording is None and run is None:
        _live_embedded(as_json, watch)
        return
    while True:
        statuses = _collect_statuses(engine, url or _stack_prometheus_url(), recording,
                                     catalog, rules_dir, run)
        if as_json:
            typer.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
        else:
            _render_status(statuses)
        if not watch or engine == "embedded":
            return
        time.sleep(2)


def _collect_statuses(engine: str, url: str, recording: Path | None, catalog: str,
                      rules_dir: Path, run: str | None = None):
    """SLO statuses, each with its budget use (gameday.slo.consumption), from Prometheus
    (over the running stack's life), a finished run (its drill window), a replayed
    recording (all of it) or the current run's monitor (since the stack started)."""
    if engine not in ("embedded", "prometheus"):
        raise ValidationError(f"--engine: expected embedded or prometheus, got {engine!r}")
    if sum(x is not None for x in (recording, run)) > 1 or \
            (engine == "prometheus" and (recording or run)):
        raise ValidationError("--from, --run and --engine prometheus: pick one source")
    if engine == "prometheus":
        return _prometheus_statuses(url, catalog, rules_dir)
    if run is not None:
        from gameday.report.budgets import run_statuses
        from gameday.runfolder import resolve_run

        return run_statuses(resolve_run(run).path)
    if recording is None:
        from gameday.slo.status import from_json
        from gameday.stack.control import load_state
        from gameday.stack.monitor import read_status

        current, _ = load_state()
        return [from_json(raw) for raw in read_status(current.path)["slos"]]
    if not recording.is_file():
        raise ValidationError(f"--from: no such recording {str(recording)!r}")
    from gameday.report.budgets import replay_statuses

    return replay_statuses(recording, _rule_files(rules_dir, catalog))


def _rule_files(rules_dir: Path | None, catalog: str) -> list[Path]:
    if rules_dir is None:
        return resources.rule_files(resources.rules_dir(catalog))
    files = resources.rule_files(rules_dir / catalog)
    if not files:
        raise ValidationError(f"--catalog: no generated rules in {rules_dir / catalog}; "
                              f"run 'gameday slo generate'")
    return files


def _prometheus_statuses(url: str, catalog: str, rules_dir: Path):
    """Statuses from Prometheus; budget use since the running stack started (else over the
    SLO period, all that Prometheus holds of it)."""
    import time

    from gameday.engine.embedded import PrometheusEngine
    from gameday.errors import GamedayError
    from gameday.slo.consumption import load_slos_for_rules, measure
    from gameday.slo.status import attach_use, collect_status

    source = PrometheusEngine(url)
    statuses = collect_status(source)
    now = time.time()
    started = None
    try:
        from gameday.stack.control import load_state

        _, state = load_state()
        started = getattr(state, "started_at", None)
    except GamedayError:
        pass
    periods = {s.slo_id: s.period_days * 86400 for s in statuses
               if s.period_days == s.period_days}
    try:
        models = load_slos_for_rules(_rule_files(rules_dir, catalog))
    except ValidationError:
        models = []
    for slo in models:
        period = periods.get(slo.id)
        if period is None:
            continue
        start = started if isinstance(started, int | float) and 0 < now - started < period \
            else now - period
        attach_use(statuses, measure(source, [slo], start, now, period))
    return statuses


def _policy_windows() -> set[float] | None:
    """Windows the generated rules record, in SLO-period terms (from the default catalog)."""
    from gameday.errors import NotFoundError
    from gameday.slo.windows import DEFAULT_CATALOG, catalog_path, load_catalog

    try:
        folder = resources.windows_dir()
    except NotFoundError:
        return None
    if not catalog_path(folder, DEFAULT_CATALOG).is_file():
        return None
    cat = load_catalog(folder, DEFAULT_CATALOG)
    return {w / cat.scale for w in cat.windows()}


@app.command("budget")
def budget(
    engine: str = typer.Option("embedded", "--engine", help="embedded or prometheus."),
    url: str = typer.Option("http://127.0.0.1:9090", "--url", help="Prometheus URL."),
    recording: Path = typer.Option(None, "--from", help="Replay this recording (embedded)."),
    run: str = typer.Option(None, "--run", help="A finished run (id or folder): its "
                            "recording over the drill's window, as score.json reports it."),
    policy_file: Path = typer.Option(None, "--policy", help="Error-budget policy (YAML; "
                                     "default: slos/policies.yaml)."),
    catalog: str = typer.Option(DRILL_CATALOG, "--catalog",
                                help="Generated rules to evaluate (embedded)."),
    rules_dir: Path = typer.Option(None, "--rules", help="Generated rules root (default: "
                                   "slos/_gen)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Error-budget policy report: per SLO the budget left, burn per policy window, the
    policy steps triggered and the action they call for."""
    import json

    from gameday.slo.budget import evaluate_policy, load_policy, render

    policy = load_policy(policy_file or resources.policies_file(), _policy_windows())
    budgets = evaluate_policy(policy, _collect_statuses(engine, url, recording, catalog,
                                                        rules_dir, run))
    if as_json:
        typer.echo(json.dumps({"policy": policy.source, "slos": [b.as_dict() for b in budgets]},
                              indent=2))
    else:
        typer.echo(render(budgets, policy), nl=False)


def _load_design(spec: Path) -> list:
    """SLOs of SPEC; a lone file may lean on the shared documents of slos/policies.yaml."""
    from gameday.slo.validate import collect_slos

    slos, errors = collect_slos([spec])
    shared = [p for p in (spec.parent / "policies.yaml", resources.slos_dir() / "policies.yaml")
              if p.is_file() and p.resolve() != spec.resolve()]
    if errors and spec.is_file() and shared:
        slos, errors = collect_slos([spec, shared[0]])
    if errors:
        raise ValidationError("\n".join(errors))
    if not slos:
        raise ValidationError(f"{spec}: no SLO documents")
    return slos


def _load_catalog(name: str, spec: Path):
    from gameday.slo.windows import load_catalog, validate_catalog
    from gameday.userfiles import load_yaml_documents

    path = Path(name)
    if name.endswith((".yaml", ".yml")):
        if not path.is_file():
            raise ValidationError(f"--catalog: no such catalog file {name!r}")
        docs = load_yaml_documents(path, "window catalog")
        return validate_catalog(docs[0] if len(docs) == 1 else docs, str(path))
    from gameday.errors import NotFoundError

    folder = spec / "windows" if (spec / "windows").is_dir() else resources.windows_dir()
    try:
        return load_catalog(folder, name)
    except NotFoundError as err:
        raise ValidationError(f"--catalog: {err}") from None


@app.command("backtest")
def backtest(
    spec: Path = typer.Argument(None, help="OpenSLO spec file or folder (possibly edited; "
                                "default: the SLO specs in use, as 'slo validate' finds them)."),
    recordings: list[str] = typer.Option(..., "--from", help="Recording of a past run "
                                         "(<run>/recording.jsonl.gz) or the name of a "
                                         "shipped recording, repeatable."),
    catalogs: list[str] = typer.Option(None, "--catalog", help="Window catalog name or YAML "
                                       "file, repeatable to compare (default: drill-12h)."),
    objective: float = typer.Option(None, "--objective", help="Try another objective for "
                                    "every SLO (percent, e.g. 99.5)."),
    min_budget: float = typer.Option(0.1, "--min-budget", help="Incidents must consume at "
                                     "least this % of the period's budget (less: a blip)."),
    eval_interval: str = typer.Option(None, "--eval-interval", help="Evaluate the rules "
                                      "every this long (e.g. 15s, 1m), at multiples of it as "
                                      "Prometheus does (default: at each scrape round, the "
                                      "recording's interval)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Replay recordings against an SLO design: time to detect, time to reset, quiet-period
    pages and budget consumed, per incident and severity."""
    import json

    from gameday.durations import parse_prometheus_duration
    from gameday.slo.backtest import render, run_backtest, with_objective
    from gameday.slo.replay import ProgressLine
    from gameday.slo.windows import validate_catalog_fits

    paths = [_find_recording(rec) for rec in recordings]
    if not 0 <= min_budget < 100:
        raise ValidationError(f"--min-budget: must be a percent in [0, 100), got {min_budget!r}")
    every = None
    if eval_interval is not None:
        every = parse_prometheus_duration(eval_interval, "--eval-interval")
        if every <= 0:
            raise ValidationError(f"--eval-interval: must be above 0, got {eval_interval!r}")
    if spec is None:
        spec = Path(relative(resources.slos_dir()))
    slos = with_objective(_load_design(spec), objective)
    results = []
    for name in catalogs or [DRILL_CATALOG]:
        catalog = _load_catalog(name, spec)
        validate_catalog_fits(slos, catalog)
        design = f"{spec}" + ("" if objective is None else f" with objective {objective:g}")
        for rec in paths:
            progress = None if quiet else ProgressLine(f"{rec.name} ({catalog.name})")
            bt = run_backtest(rec, slos, catalog, min_budget / 100, eval_interval=every,
                              progress=progress)
            results.append((design, bt))
    if as_json:
        typer.echo(json.dumps([{"design": d, **bt.as_dict()} for d, bt in results], indent=2))
    else:
        typer.echo(render(results), nl=False)


def _find_recording(given: str) -> Path:
    from gameday.errors import GamedayError

    try:
        return resources.find_recording(given)
    except GamedayError:
        names = ", ".join(resources.recording_names()) or "none"
        raise ValidationError(f"--from: no such recording {given!r}: not a file, nor the name "
                              f"of a shipped recording (names: {names})") from None
