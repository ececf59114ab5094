"""``gameday faults add|list|clear|remove|types``: the services' fault admin API."""

from __future__ import annotations

import json
import time

import typer
from rich.table import Table

from gameday.errors import NotFoundError, StackError, ValidationError
from gameday.stack import admin
from gameday.stack.control import load_state, supervisor_alive
from gameday.stack.runs import Run
from gameday.stack.state import StackState

from .params import format_duration, parse_duration, parse_params, parse_probability, parse_replica
from .render import make_console

# As in gameday.faults.model (a test holds them equal): importing gameday.faults would load
# FastAPI for every command line.
DEFAULT_ROUTE = "/v1/*"
MAX_TTL_S = 3600.0

app = typer.Typer(help="Inject, list and clear faults on the running stack.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
RUN_OPTION = typer.Option(None, "--run", help="Run id (default: the current run).")
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output.")


def _running(run_id: str | None) -> tuple[Run, StackState, str]:
    run, state = load_state(run_id)
    if not supervisor_alive(state):
        raise StackError(f"run {run.id} is not running ({state.status}); start the stack with "
                         f"'gameday up'")
    return run, state, run.token()


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
) -> None:
    """Inject a fault into every replica of SERVICE (or one, with --replica)."""
    ttl_s = parse_duration(ttl, where="--ttl")
    if ttl_s > MAX_TTL_S:
        raise ValidationError(f"--ttl: at most {format_duration(MAX_TTL_S)}, got {ttl!r}")
    body = {"type": fault_type, "params": parse_params(params), "route": route,
            "probability": parse_probability(probability), "ttl_s": ttl_s}
    which = parse_replica(replica)
    validate_fault(service, fault_type, body["params"])
    _, state, token = _running(run_id)
    procs = admin.select(state, service, which)
    added = admin.add_fault(procs, token, body)
    if as_json:
        typer.echo(json.dumps([{"process": pid, **fault} for pid, fault in added], indent=2))
        return
    for pid, fault in added:
        typer.echo(f"added {fault['type']} fault {fault['id']} to {pid} "
                   f"(params {_params_text(fault['params'])}; route {fault['route']}; "
                   f"probability {fault['probability']:g}; ttl {format_duration(ttl_s)})")


def validate_fault(service: str, fault_type: str, params: dict) -> None:
    """Check the type and its parameters against the catalogue before calling anyone (a
    service gameday does not know is left to answer for itself)."""
    from pydantic import ValidationError as PydanticValidationError

    from gameday.faults.catalog import SERVICE_TYPES, types_for
    from gameday.faults.store import format_pydantic_error

    if service not in SERVICE_TYPES:
        return
    known = types_for(service)
    if fault_type not in known:
        raise ValidationError(f"TYPE: {service} has no fault type {fault_type!r}; types: "
                              f"{', '.join(known)}")
    try:
        known[fault_type].model_validate(params)
    except PydanticValidationError as err:  # worded as the services word it
        raise ValidationError(format_pydantic_error(f"--param: fault {fault_type!r} params",
                                                    err)) from None


@app.command("list")
def list_(
    service: str = typer.Argument(None, help="Only this service."),
    run_id: str = RUN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Active faults per process."""
    _, state, token = _running(run_id)
    found = admin.list_faults(admin.select(state, service), token)
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
) -> None:
    """Remove every fault (of SERVICE, or of the whole stack)."""
    which = parse_replica(replica)
    _, state, token = _running(run_id)
    cleared = admin.clear_faults(admin.select(state, service, which), token)
    total = sum(n for _, n in cleared)
    where = ", ".join(f"{pid}: {n}" for pid, n in cleared)
    typer.echo(f"cleared {total} fault(s) ({where})")


@app.command("remove")
def remove(
    fault_id: str = typer.Argument(..., help="Fault id as shown by 'gameday faults list'."),
    service: str = typer.Option(None, "--service", help="Only look in this service."),
    run_id: str = RUN_OPTION,
) -> None:
    """Remove one fault by id."""
    _, state, token = _running(run_id)
    removed = admin.remove_fault(admin.select(state, service), token, fault_id)
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
        _, state, token = _running(run_id)
    except (NotFoundError, StackError):
        from gameday.faults.catalog import describe, types_for

        found = describe(types_for(service))
        typer.echo("(stack not running: showing gameday's catalogue)", err=True)
    else:
        found = admin.fault_types(admin.select(state, service)[0], token)
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
