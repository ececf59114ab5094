"""``gameday drill run|list|show|new``: game-day drills on the local stack."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gameday.errors import ValidationError

from .params import parse_duration
from .render import make_console

app = typer.Typer(help="Run game-day drills: a scenario, alerts, a responder, a score.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)


def _roles(items: list[str]) -> dict[str, str]:
    from gameday.drill.incident import ROLES

    roles = {}
    for item in items:
        role, sep, who = item.partition("=")
        if not sep or not who.strip() or role.strip() not in ROLES:
            raise ValidationError(f"--role: expected ROLE=NAME with ROLE one of "
                                  f"{', '.join(ROLES)}, got {item!r}")
        roles[role.strip()] = who.strip()
    return roles


def _http_url(value: str, where: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"{where}: expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValidationError(f"--webhook-listen: expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _check_attach(ref: str) -> None:
    """``--attach RUN``: a run of this folder whose supervisor is alive, or exit 2 naming the
    runs that are."""
    from gameday.cli.render import relative
    from gameday.errors import GamedayError
    from gameday.runfolder import Run, runs_dir
    from gameday.stack.control import load_state, supervisor_alive
    from gameday.stack.state import read_state

    runs = runs_dir()
    running = []
    for folder in sorted(p for p in runs.glob("*") if Run(p).state_path.is_file()):
        try:
            if supervisor_alive(read_state(Run(folder).state_path)):
                running.append(folder.name)
        except (GamedayError, OSError, ValueError):
            continue
    shown = ", ".join(running) or "none"
    try:
        run, state = load_state(ref)
    except GamedayError:
        raise ValidationError(f"--attach: no run {ref!r} in {relative(runs)} (running: "
                              f"{shown})") from None
    if not supervisor_alive(state):
        raise ValidationError(f"--attach: run {run.id} is not running (status "
                              f"{state.status}; running: {shown})")


@app.command("run")
def run(
    scenario: str = typer.Argument(None, help="Scenario name (experiments/<name>.json) or "
                                              "file; omit with --wheel."),
    auto: bool = typer.Option(False, "--auto", help="An automatic responder acknowledges and "
                                                    "applies the documented mitigation."),
    wheel: bool = typer.Option(False, "--wheel", help="Wheel of misfortune: a hidden scenario "
                                                      "picked at random."),
    seed: int = typer.Option(None, "--seed", help="Seed of the wheel (reproducible pick)."),
    users: int = typer.Option(6, "--users", help="Load: simulated users (steady profile)."),
    ack_delay: str = typer.Option("3s", "--ack-delay", help="--auto: delay before the ack."),
    max_duration: str = typer.Option("15m", "--max-duration", help="Hard limit of the drill."),
    prometheus: bool = typer.Option(False, "--prometheus",
                                    help="Real Prometheus and Alertmanager deliver the pages "
                                         "(binaries on PATH)."),
    attach: str = typer.Option(None, "--attach", help="Use this running run (id) instead of "
                                                      "starting a stack."),
    stack_file: Path = typer.Option(None, "--stack-file",
                                    help="Attach to services gameday did not start "
                                         "(containers, a cluster): deploy/compose/stack.yaml."),
    prometheus_url: str = typer.Option(None, "--prometheus-url",
                                       help="Read SLOs and alerts from this running Prometheus "
                                            "(e.g. http://localhost:9090)."),
    webhook_listen: str = typer.Option(None, "--webhook-listen",
                                       help="HOST:PORT for the incident API and Alertmanager "
                                            "webhook (default 127.0.0.1, any free port)."),
    role: list[str] = typer.Option(None, "--role", help="ROLE=NAME: commander, ops, comms, "
                                                        "scribe, expert; repeatable."),
    responders: str = typer.Option(None, "--responders",
                                   help="NAME,NAME: one responder token file each "
                                        "(<run>/responder-NAME.token), besides the shared "
                                        "responder.token (docs/team.md)."),
    quiet_report: bool = typer.Option(False, "--no-outputs", help="Skip report and postmortem."),
    console_linger: bool = typer.Option(False, "--console-linger",
                                        help="After the drill, keep serving the web console, "
                                             "open on the debrief, until Ctrl-C."),
    scenarios_dir: Path = typer.Option(None, "--scenarios",
                                       help="Folder of scenarios (default: experiments/)."),
) -> None:
    """Run a whole drill: stack, load, steady state, fault, pages, response, recovery, report."""
    from gameday.drill.controller import Drill, DrillOptions
    from gameday.drill.credentials import validate_responders
    from gameday.drill.live import DrillView
    from gameday.drill.outputs import write_outputs
    from gameday.drill.scenario import load_scenario, pick_wheel

    if wheel == (scenario is not None):
        raise ValidationError("give a SCENARIO, or --wheel (not both)")
    if seed is not None and not wheel:
        raise ValidationError("--seed only goes with --wheel")
    if users < 1 or users > 200:
        raise ValidationError(f"--users: from 1 to 200, got {users}")
    if prometheus:
        from gameday.prometheus.alertmanager import find_alertmanager
        from gameday.prometheus.server import find_prometheus

        find_prometheus()
        find_alertmanager()
    if sum(x is not None for x in (attach, stack_file)) + prometheus > 1:
        raise ValidationError("--attach, --stack-file and --prometheus do not go together")
    if prometheus_url is not None:
        prometheus_url = _http_url(prometheus_url, "--prometheus-url")
    listen = _listen(webhook_listen) if webhook_listen is not None else None
    if attach is not None:
        _check_attach(attach)
    if stack_file is not None:
        from gameday.stack.external import load_stack_file
        from gameday.userfiles import load_yaml_documents

        load_yaml_documents(stack_file, "stack file")  # bounded: size, depth, long numbers
        load_stack_file(stack_file)  # check first: a bad file stops before anything starts
    if scenarios_dir is not None and not scenarios_dir.is_dir():
        raise ValidationError(f"--scenarios: no such folder {str(scenarios_dir)!r}")
    picked = pick_wheel(seed, scenarios_dir) if wheel else load_scenario(scenario,
                                                                         scenarios_dir)
    if attach is None and stack_file is None:
        from gameday.stack.spec import build_spec

        build_spec(free_ports=True, **picked.stack_args())  # its --set values, before any start
    options = DrillOptions(
        mode="auto" if auto else "interactive", hidden=wheel, users=users, seed=seed,
        ack_delay_s=parse_duration(ack_delay, where="--ack-delay"),
        max_duration_s=parse_duration(max_duration, where="--max-duration"),
        prometheus=prometheus, attach=attach, roles=_roles(role or []),
        responders=validate_responders(responders.split(",")) if responders else (),
        stack_file=str(stack_file) if stack_file is not None else None,
        prometheus_url=prometheus_url, webhook_listen=listen)
    console = make_console()
    pub = picked.public(wheel)
    console.print(f"[bold]{pub['title']}[/]", highlight=False)
    if pub.get("briefing"):
        console.print(pub["briefing"], highlight=False, markup=False)
    if listen is not None and listen[0] not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]warning: the incident API and the alert webhook listen on "
                      f"{listen[0]}:{listen[1]}, reachable from other hosts; every "
                      f"endpoint (/metrics and /alerts too) needs a token (docs/team.md)[/]",
                      highlight=False)
    with DrillView(console, interactive_help=not auto) as view:
        drill = Drill(picked, options, view=view)
        outcome = drill.run()
    run_path = drill.run_path
    if run_path is None:
        raise ValidationError(outcome.get("error") or "the drill did not start")
    written: list = []
    if not quiet_report:
        with console.status("writing the report") as status:
            written, problems = write_outputs(run_path, lambda s: status.update(f"writing {s}"))
        for p in problems:
            console.print(f"[yellow]{p}[/]", highlight=False)
    _summary(console, run_path, picked, wheel, drill, written)
    if console_linger and not drill.interrupted and drill.server is not None:
        _linger(console, run_path, drill.server.listener)
    if outcome.get("error") and not drill.interrupted:
        raise typer.Exit(1)
    if drill.interrupted:
        raise typer.Exit(130)


def _linger(console, run_path: Path, listener) -> None:
    """The web console's debrief on the drill's own address until Ctrl-C (docs/console.md)."""
    import time

    from gameday.drill.console import serve_debrief

    debrief = serve_debrief(run_path, listener.host, listener.port)
    console.print(f"debrief: {debrief.url}/console/debrief (Ctrl-C to stop)", highlight=False,
                  markup=False)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        debrief.stop()


def _summary(console, run_path, scenario, wheel, drill, written) -> None:
    from gameday.cli.render import relative
    from gameday.runfolder import Run

    score_path = Run(Path(run_path)).score
    score = json.loads(score_path.read_text()) if score_path.exists() else {}
    console.print(f"\n[bold]drill over[/] (run folder {relative(run_path)}/)", highlight=False)
    if wheel:
        console.print(f"the scenario was: {scenario.title} ({scenario.name})", highlight=False,
                      markup=False)
        console.print(f"root cause: {scenario.root_cause}", highlight=False, markup=False)
    for m in drill.incident.mitigations if drill.incident else []:
        console.print(f"mitigation tried by {m['who']}: {m['lever']} {m['args']} -> "
                      f"{'ok' if m['ok'] else 'FAILED'}", highlight=False, markup=False)
    for d in drill.incident.diagnoses if drill.incident else []:
        console.print(f"diagnosis by {d['who']}: {'RIGHT' if d['correct'] else 'WRONG'} "
                      f"({d['text']})", highlight=False, markup=False)
    for key, value in (score.get("durations_s") or {}).items():
        shown = f"{value:7.1f} s" if isinstance(value, int | float) else "      -"
        console.print(f"  time to {key:<12} {shown}", highlight=False, markup=False)
    from gameday.report.score import budget_lines

    for line in budget_lines(score):
        console.print(line, highlight=False, markup=False)
    verdict = score.get("verdict")
    if isinstance(verdict, dict):
        verdict = verdict.get("result") or verdict.get("status")
    if verdict:
        console.print(f"  verdict: {verdict}", highlight=False, markup=False)
    aborted = drill.outcome.get("aborted")
    if aborted:
        console.print(f"aborted by {aborted['by']}: {aborted['reason']}", highlight=False,
                      markup=False)
    if drill.outcome.get("error"):
        console.print(f"[red]{drill.outcome['error']}[/]", highlight=False)
    for path in written:
        console.print(f"  wrote {relative(path)}", highlight=False, markup=False)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """The scenarios: name, title, severity, the alerts that should fire."""
    from rich.table import Table

    from gameday.drill.scenario import list_scenarios

    scenarios = list_scenarios()
    if as_json:
        typer.echo(json.dumps([s.public() for s in scenarios], indent=2))
        return
    table = Table()
    for col in ("scenario", "title", "severity", "alerts"):
        table.add_column(col)
    for s in scenarios:
        table.add_row(s.name, s.title, s.severity, ", ".join(s.alerts))
    make_console().print(table)


@app.command("show")
def show(scenario: str = typer.Argument(..., help="Scenario name or file.")) -> None:
    """A scenario's briefing, SLOs, alerts, runbook and hints (not the answer key)."""
    from gameday.drill.scenario import load_scenario

    s = load_scenario(scenario)
    console = make_console()
    console.print(f"[bold]{s.title}[/] ({s.name}, {s.severity})", highlight=False)
    console.print(s.briefing, highlight=False, markup=False)
    console.print(f"SLOs: {', '.join(s.slos)}; alerts: {', '.join(s.alerts)}", highlight=False,
                  markup=False)
    if s.runbook:
        console.print(f"runbook: {s.runbook}", highlight=False, markup=False)
    for i, hint in enumerate(s.hints, 1):
        console.print(f"hint {i}: {hint}", highlight=False, markup=False)


SCENARIO_NAME = r"[a-z0-9]+(-[a-z0-9]+)*"  # as the extension schema's "scenario"
SCENARIO_TEMPLATE = "runbooks/templates/scenario.json"


@app.command("new")
def new(
    name: str = typer.Argument(..., help="Name of the new scenario: lowercase words joined "
                                         "by '-' (experiments/NAME.json)."),
    from_: str = typer.Option(None, "--from", help="Copy this scenario (name or file) "
                                                   "instead of the template."),
    title: str = typer.Option(None, "--title", help="Title learners see (default: the "
                                                    "template's, or the copied one's + NAME)."),
    force: bool = typer.Option(False, "--force", help="Overwrite experiments/NAME.json."),
) -> None:
    """Write experiments/NAME.json in the workspace, from the scenario template or a copy of a
    scenario, and check it as every drill does. Edit it, then 'gameday drill show NAME'."""
    import copy
    import re

    from gameday.drill.scenario import load_scenario, parse_scenario
    from gameday.resources import find_file, find_folder
    from gameday.runfolder import atomic_write
    from gameday.userfiles import load_json_file

    from .render import relative

    if not re.fullmatch(SCENARIO_NAME, name) or len(name) > 64:
        raise ValidationError(f"NAME: lowercase letters and digits in words joined by '-', "
                              f"at most 64 characters (e.g. my-first-scenario), got {name!r}")
    if title is not None and len(title.strip()) < 3:
        raise ValidationError(f"--title: at least 3 characters, got {title!r}")
    folder = find_folder("experiments", editable=True)
    target = folder / f"{name}.json"
    if (target.exists() or target.is_symlink()) and not force:
        raise ValidationError(f"{relative(target)}: already exists; pass --force to "
                              f"overwrite it, or pick another NAME")
    if from_ is not None:
        source = load_scenario(from_)
        experiment = copy.deepcopy(source.experiment)
        default_title = f"{source.title} ({name})"
    else:
        template = find_file(SCENARIO_TEMPLATE)
        if template is None:
            raise ValidationError(f"no scenario template: no {SCENARIO_TEMPLATE} in the "
                                  f"workspace or the package; run 'gameday init'")
        experiment = load_json_file(template, "scenario template")
        default_title = None
    block = next(e for e in experiment["extensions"] if isinstance(e, dict)
                 and e.get("name") == "gameday")
    block["scenario"] = name
    block["title"] = title.strip() if title else default_title or block["title"]
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise ValidationError(f"{relative(target)}: not a regular file; move it away first")
    atomic_write(target, json.dumps(experiment, indent=2, ensure_ascii=False) + "\n")
    try:
        scenario = parse_scenario(target)
    except ValidationError:
        target.unlink(missing_ok=True)
        raise
    console = make_console()
    console.print(f"wrote {relative(target)}: {scenario.title}", highlight=False, markup=False)
    console.print(f"edit it (the fault under 'method', what pages under "
                  f"extensions[gameday]), then check it: gameday drill show {name}",
                  highlight=False, markup=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="drill")
