"""``gameday up``, ``gameday down``, ``gameday status``: the local stack."""

from __future__ import annotations

import json
import time

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from gameday.errors import GamedayError, NotFoundError, StackError, ValidationError
from gameday.stack.control import load_state, stop_stack, supervisor_alive
from gameday.stack.daemon import launch_detached
from gameday.stack.health import probe_all
from gameday.stack.registry import (
    LiveStack,
    find_live,
    forget_run,
    live_stacks,
    port_ranges,
    register_stack,
    sweep,
)
from gameday.stack.spec import StackSpec, build_spec
from gameday.stack.state import StackState
from gameday.stack.supervisor import Supervisor

from .render import make_console, relative, status_table, summary_lines

RUN_OPTION = typer.Option(None, "--run", help="Run id (default: the current run).")


def _say_cleaned(cleaned, console: Console | None = None) -> None:
    console = console or make_console()
    for state, killed in cleaned:
        console.print(f"run {state.run_id} was left running by a supervisor that died "
                      f"(pid {state.supervisor_pid}): marked failed, "
                      f"{len(killed)} leftover process(es) stopped", highlight=False)


def _stop_how(run_id: str) -> str:
    return f"gameday down --run {run_id}"


def _check_catalog(catalog: str) -> None:
    from gameday.stack.monitor import default_rules_dir

    if default_rules_dir(catalog) is None:
        raise ValidationError(f"--catalog: no generated rules for {catalog!r} in "
                              f"slos/_gen/{catalog}/ (run 'gameday slo generate')")


def _print_ready(console: Console, state: StackState, detached: bool) -> None:
    took = (state.ready_at or time.time()) - state.started_at
    console.print(f"[green]gameday stack ready[/] in {took:.1f} s (run {state.run_id})",
                  highlight=False)
    for line in summary_lines(state):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    alone = [s.run_id for s in live_stacks(clean=False)] in ([], [state.run_id])
    how = "gameday down" if alone else _stop_how(state.run_id)
    if not detached:
        how = f"Ctrl-C (or '{how}' from another terminal)"
    console.print(f"stop with:   {how}", highlight=False, markup=False)


def up(
    detach: bool = typer.Option(False, "--detach", "-d",
                                help="Run the supervisor in the background; exit once ready."),
    base_port: int = typer.Option(None, "--base-port",
                                  help="First port (default 8080: gateway 8080, features 8081, "
                                       "classifier 8082+, llm next)."),
    free_ports: bool = typer.Option(False, "--free-ports", help="Pick free ports."),
    port_range: str = typer.Option(None, "--port-range",
                                   help="'auto' is the same as --free-ports."),
    replicas: list[str] = typer.Option(None, "--replicas", help="SERVICE=N, e.g. classifier=3."),
    sets: list[str] = typer.Option(None, "--set",
                                   help="SERVICE.FIELD=VALUE (env <SERVICE>_<FIELD>), or "
                                        "stack.FIELD=VALUE for the supervisor (backoff_max_s, "
                                        "ready_timeout_s, ...)."),
    memory_limits: list[str] = typer.Option(None, "--memory-limit",
                                            help="SERVICE=SIZE (e.g. classifier=300M): kill "
                                                 "and restart as OOMKilled above it."),
    prometheus: bool = typer.Option(False, "--prometheus",
                                    help="Also run real Prometheus (on PATH) with the generated "
                                         "SLO rules; 'gameday slo status' then reads it."),
    catalog: str = typer.Option(None, "--catalog",
                                help="Window catalog of the SLO rules evaluated (default "
                                     "drill-12h; google-30d for production windows)."),
) -> None:
    """Start the local stack: features, classifier x2, llm, gateway."""
    if port_range is not None:
        if port_range.strip().lower() != "auto":
            raise ValidationError(f"--port-range: only 'auto' is supported, got {port_range!r}")
        free_ports = True
    sets = list(sets or ())
    if prometheus:
        from gameday.prometheus.server import find_prometheus

        find_prometheus()  # a clear error now rather than a failed stack later
        sets.append("stack.prometheus=true")
    if catalog is not None:
        _check_catalog(catalog)
        sets.append(f"stack.catalog={catalog}")
    spec = build_spec(replicas=replicas or (), sets=sets,
                      memory_limits=memory_limits or (), base_port=base_port,
                      free_ports=free_ports)
    console = make_console()
    _say_cleaned(sweep()[1], console)
    if detach:
        _, state = launch_detached(spec)
        _print_ready(console, state, detached=True)
        return
    _run_foreground(spec, console)


def _run_foreground(spec: StackSpec, console: Console) -> None:
    run = register_stack(spec, "up")
    shown = {"ready": False, "at": 0.0}
    console.print(f"starting stack (run {run.id}); logs in {relative(run.logs_dir)}/",
                  highlight=False, markup=False)
    with Live(console=console, auto_refresh=False, transient=False) as live:
        def on_tick(state: StackState) -> None:
            if state.status == "running" and not shown["ready"]:
                shown["ready"] = True
                _print_ready(live.console, state, detached=False)
            now = time.monotonic()
            if now - shown["at"] >= 0.5:
                shown["at"] = now
                live.update(Group(status_table(state), Text("Ctrl-C stops the stack",
                                                            style="dim")), refresh=True)

        supervisor = Supervisor(spec, run, on_tick=on_tick)
        supervisor.install_signal_handlers()
        try:
            state = supervisor.run()
        finally:
            forget_run(run)
        live.update(status_table(state), refresh=True)
    if not console.is_terminal:
        console.line()
    if state.status == "failed":
        raise StackError(state.error or f"run {run.id}: stack failed")
    console.print(f"stopped {len(state.processes)} processes (run {run.id})", highlight=False)


def down(run_id: str = RUN_OPTION,
         stop_all: bool = typer.Option(False, "--all", help="Stop every running stack."),
         timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait.")) -> None:
    """Stop the running stack: the only one, the one named with --run, or --all of them."""
    if run_id is not None:
        _stop_run(run_id, timeout)
        return
    live, cleaned = sweep()
    _say_cleaned(cleaned)
    if not live:
        _say_nothing_running()
        return
    if stop_all:
        failed = []
        for item in live:
            if item.kind == "external":
                typer.echo(f"left {item.describe()}: gameday did not start those services; "
                           f"stop them with what runs them")
                continue
            try:
                _stop_run(item.run_id, timeout)
            except GamedayError as err:  # the others still get stopped
                typer.echo(f"could not stop run {item.run_id}: {err}")
                failed.append(item.run_id)
        if failed:
            raise StackError(f"not every stack stopped: {', '.join(failed)}")
        return
    if len(live) == 1 and live[0].kind == "up":
        _stop_run(live[0].run_id, timeout)
        return
    typer.echo(f"{len(live)} stack(s) running; nothing stopped:")
    for item in live:
        typer.echo(f"  {_live_line(item)}")
    raise ValidationError("name the stack to stop with 'gameday down --run ID', or stop "
                          "every one with 'gameday down --all'")


def _live_line(item: LiveStack) -> str:
    line = item.describe() + (" [current]" if item.current else "")
    if item.kind == "drill":
        return (line + f": a drill is using it; '{_stop_how(item.run_id)}' ends that drill "
                       f"as Ctrl-C would (it still writes its report)")
    if item.kind == "process":
        return (line + f": '{_stop_how(item.run_id)}' stops it and ends that process")
    if item.kind == "external":
        return line + ": not gameday's to stop (the drill watching it stops with Ctrl-C)"
    return line + f": stop with '{_stop_how(item.run_id)}'"


def _say_nothing_running() -> None:
    try:
        run, state = load_state()
    except NotFoundError as err:
        typer.echo(f"nothing to stop: {err}")
        return
    why = (state.status if state.status in ("stopped", "failed")
           else f"gone (supervisor pid {state.supervisor_pid} no longer runs)")
    typer.echo(f"nothing running: run {run.id} is {why}")


def _stop_run(run_id: str, timeout: float) -> None:
    """Stop one run, named by id; a drill's own stack ends its drill as Ctrl-C would."""
    try:
        run, state = load_state(run_id)
    except NotFoundError:
        if find_live(run_id) is None:
            raise
        raise StackError(f"run {run_id} is still starting (its supervisor has not written "
                         f"stack.json yet); run 'gameday down' again in a moment") from None
    if not supervisor_alive(state):
        why = (state.status if state.status in ("stopped", "failed")
               else f"gone (supervisor pid {state.supervisor_pid} no longer runs)")
        typer.echo(f"nothing running: run {run.id} is {why}")
        return
    entry = find_live(run.id)
    drill = entry is not None and entry.kind == "drill"
    in_thread = entry is not None and entry.kind in ("drill", "process")
    if drill:
        typer.echo(f"run {run.id} is a drill's own stack (pid {state.supervisor_pid}): "
                   f"stopping it ends that drill as Ctrl-C would; the drill still writes "
                   f"its report")
    elif in_thread:
        typer.echo(f"run {run.id} is a stack inside another command or script (pid "
                   f"{state.supervisor_pid}): stopping it ends that process")
    started = time.monotonic()
    final = stop_stack(run, timeout=timeout, until_stopped=in_thread)
    forget_run(run)
    if final is None:
        typer.echo(f"nothing running: run {run.id} had already stopped")
        return
    left = [p.id for p in final.processes if p.state != "stopped"]
    typer.echo(f"stopped run {run.id}: {len(final.processes) - len(left)} processes stopped "
               f"in {time.monotonic() - started:.1f} s")
    if left:
        raise StackError(f"run {run.id}: processes not reported stopped: {', '.join(left)}")


def status(run_id: str = RUN_OPTION,
           as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Processes of the run: URL, pid, state, live readiness, restarts, last exit; and
    every stack running when there are several."""
    live = live_stacks(clean=False)
    run, state = load_state(run_id)
    alive = supervisor_alive(state)
    probed = [p for p in state.processes if alive and p.pid]
    answers = probe_all([p.url for p in probed], timeout=1.0)
    ready = {p.id: ok for p, ok in zip(probed, answers, strict=True)}
    if as_json:
        data = state.model_dump()
        data["supervisor_alive"] = alive
        for p in data["processes"]:
            p["ready"] = ready.get(f"{p['name']}-{p['replica']}", False)
        data["live_runs"] = [_live_json(item) for item in live]
        typer.echo(json.dumps(data, indent=2))
        return
    console = make_console()
    if alive:
        head = f"run {run.id}: {state.status}, supervisor pid {state.supervisor_pid}"
    elif state.status in ("stopped", "failed"):
        head = f"run {run.id}: {state.status}"
    else:
        head = (f"run {run.id}: supervisor (pid {state.supervisor_pid}) is gone; its "
                f"processes died with it")
    console.print(head, highlight=False, markup=False)
    if state.error:
        console.print(f"error: {state.error}", highlight=False, markup=False)
    console.print(status_table(state, ready, alive=alive))
    console.print(f"run folder: {relative(run.path)}/", highlight=False, markup=False)
    if [item.run_id for item in live] not in ([], [run.id]):
        console.print(f"{len(live)} stack(s) running:", highlight=False, markup=False)
        for item in live:
            console.print(f"  {_live_line(item)}", highlight=False, markup=False,
                          soft_wrap=True)


def _live_json(item: LiveStack) -> dict:
    return {"run_id": item.run_id, "kind": item.kind, "pid": item.pid,
            "ports": port_ranges(item.ports()), "gateway_url": item.gateway_url(),
            "current": item.current,
            "status": item.state.status if item.state else "starting"}


def scale(service: str = typer.Argument(..., help="Service name, e.g. classifier."),
          replicas: int = typer.Argument(..., help="How many replicas it should have."),
          run_id: str = RUN_OPTION,
          timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for ready.")
          ) -> None:
    """Add or remove replicas of a running service; callers (the gateway) are updated."""
    from gameday.stack.scale import scale_service

    started = time.monotonic()
    procs = scale_service(service, replicas, run=run_id, timeout=timeout)
    typer.echo(f"{service}: {len(procs)} ready replica(s) in "
               f"{time.monotonic() - started:.1f} s: "
               + ", ".join(f"{p.id} {p.url}" for p in procs))


def register(app: typer.Typer) -> None:
    app.command("scale")(scale)
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
