"""``gameday faults add|list|clear|remove|types``: the services' fault admin API.

Every command goes through gameday.faults.client, as the Chaos Toolkit actions do: a fault
added or cleared here is on the run's timeline (``fault_start`` / ``fault_end``, who: you),
so a drill's report and postmortem show it.
"""

from __future__ import annotations

import json
import time

import typer
from rich.table import Table

from gameday.durations import format_duration
from gameday.errors import NotFoundError, StackError
from gameday.faults.client import FaultClient, validate_fault
from gameday.faults.model import DEFAULT_ROUTE

from .incident import WHO_OPTION, _who
from .params import parse_params, parse_replica
from .render import make_console

# What the client's messages call each value: the options of this command line
OPTION_NAMES = {"type": "TYPE", "params": "--param", "route": "--route",
                "probability": "--probability", "ttl": "--ttl"}

app = typer.Typer(help="Inject, list and clear faults on the running stack.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
RUN_OPTION = typer.Option(None, "--run", help="Run id (default: the current run).")
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output.")


def _client(run_id: str | None, who: str | None = None) -> FaultClient:
    return FaultClient.for_run(run_id, who=_who(who))


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "-"


@app.command("add")
def add(
    service: str = typer.Argument(..., help="Service name, e.g. classifier."),
    fault_type: str = typer.Argument(..., metavar="TYPE", help="Fault type, e.g. latency."),
    params: list[str] = typer.Option(None, "--param", "-p", help="KEY=VALUE, repeatable."),
    route: str = typer.Option(DEFAULT_ROUTE, "--route", help="Glob on the request path."),
    probability: float = typer.Option(1.0, "--probability", help="From 0 to 1."),
    ttl: str = typer.Option(..., "--ttl", help="How long it lasts: 30s, 2m, 1h."),
    replica: str = typer.Option("all", "--replica", help="Replica number or 'all'."),
    run_id: str = RUN_OPTION,
    as_json: bool = JSON_OPTION,
    who: str = WHO_OPTION,
) -> None:
    """Inject a fault into every replica of SERVICE (or one, with --replica)."""
    body = validate_fault(service, fault_type, parse_params(params), ttl=ttl, route=route,
                          probability=probability, names=OPTION_NAMES)
    which = parse_replica(replica)
    added = _client(run_id, who).add(service, body, which)
    if as_json:
        typer.echo(json.dumps([{"process": pid, **fault} for pid, fault in added], indent=2))
        return
    for pid, fault in added:
        typer.echo(f"added {fault['type']} fault {fault['id']} to {pid} "
                   f"(params {_params_text(fault['params'])}; route {fault['route']}; "
                   f"probability {fault['probability']:g}; "
                   f"ttl {format_duration(body['ttl_s'])})")


@app.command("list")
def list_(
    service: str = typer.Argument(None, help="Only this service."),
    run_id: str = RUN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Active faults per process."""
    found = _client(run_id).list(service)
    if as_json:
        typer.echo(json.dumps([{"process": pid, "faults": faults} for pid, faults in found],
                              indent=2))
        return
    rows = [(pid, f) for pid, faults in found for f in faults]
    if not rows:
        typer.echo("no active faults" + (f" on {service}" if service else ""))
        return
    table = Table()
    for col in ("process", "id", "type", "params", "route", "probability", "expires in"):
        table.add_column(col)
    now = time.time()
    for pid, f in rows:
        table.add_row(pid, f["id"], f["type"], _params_text(f["params"]), f["route"],
                      f"{f['probability']:g}", f"{max(0.0, f['expires_at'] - now):.0f}s")
    make_console().print(table)


@app.command("clear")
def clear(
    service: str = typer.Argument(None, help="Only this service (default: all)."),
    replica: str = typer.Option("all", "--replica", help="Replica number or 'all'."),
    run_id: str = RUN_OPTION,
    who: str = WHO_OPTION,
) -> None:
    """Remove every fault (of SERVICE, or of the whole stack)."""
    which = parse_replica(replica)
    cleared = _client(run_id, who).clear(service, which)
    total = sum(n for _, n in cleared)
    where = ", ".join(f"{pid}: {n}" for pid, n in cleared)
    typer.echo(f"cleared {total} fault(s) ({where})")


@app.command("remove")
def remove(
    fault_id: str = typer.Argument(..., help="Fault id as shown by 'gameday faults list'."),
    service: str = typer.Option(None, "--service", help="Only look in this service."),
    run_id: str = RUN_OPTION,
    who: str = WHO_OPTION,
) -> None:
    """Remove one fault by id."""
    removed = _client(run_id, who).remove(fault_id, service)
    if not removed:
        raise NotFoundError(f"no active fault with id {fault_id!r}")
    typer.echo(f"removed fault {fault_id} from {', '.join(removed)}")


@app.command("types")
def types(
    service: str = typer.Argument(..., help="Service name, e.g. classifier."),
    run_id: str = RUN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Fault types SERVICE accepts, with their parameters.

    Asks the running service; with no stack running, shows gameday's catalogue.
    """
    try:
        client = _client(run_id)
    except (NotFoundError, StackError):
        from gameday.faults.catalog import describe, types_for

        found = describe(types_for(service))
        typer.echo("(stack not running: showing gameday's catalogue)", err=True)
    else:
        found = client.types(service)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table()
    for col in ("type", "params (default)", "what it does"):
        table.add_column(col)
    for t in found:
        props = t.get("params", {}).get("properties", {})
        params = ", ".join(f"{k}={v.get('default', '?')}" for k, v in props.items()) or "-"
        table.add_row(t["type"], params, t.get("doc", ""))
    make_console().print(table)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="faults")
