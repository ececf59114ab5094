"""Client of the services' fault admin API (``/admin/faults``) for the processes of a run.

Errors name the process and quote the service's own message: a 422 becomes a
ValidationError such as ``classifier-0: field 'ttl_s': Input should be less than or equal to
3600, got 7200.0``.
"""

from __future__ import annotations

import httpx

from gameday.errors import StackError, ValidationError
from gameday.stack.state import ProcessState, StackState

# A lever is pulled on a service at its worst: the gateway in the overload-spike drill,
# with 240 clients and a second drill on the same 2 cores, took over 5 s to answer its
# admin PATCH on a new connection (the mitigation failed and the drill never recovered).
# A responder waits that long for a control-plane call; one that can never answer still
# fails in bounded time.
TIMEOUT_S = 20.0


def select(state: StackState, service: str | None = None,
           replica: int | str | None = "all") -> list[ProcessState]:
    """Processes of ``service`` (all services if None), one replica or all."""
    procs = state.of_service(service) if service else list(state.processes)
    if replica in (None, "all"):
        return procs
    chosen = [p for p in procs if p.replica == int(replica)]
    if not chosen:
        have = ", ".join(str(p.replica) for p in procs)
        raise ValidationError(f"--replica: {service} has no replica {replica!r}; have: {have}")
    return chosen


def format_detail(detail) -> str:
    """FastAPI's error detail (a string, or a list of field errors) as one line."""
    if isinstance(detail, list):
        parts = []
        for e in detail:
            if not isinstance(e, dict):
                parts.append(str(e))
                continue
            loc = [str(x) for x in e.get("loc", []) if x != "body"]
            field = ".".join(loc) or "(body)"
            part = f"field '{field}': {e.get('msg', 'invalid')}"
            if "input" in e:
                part += f", got {e['input']!r}"
            parts.append(part)
        return "; ".join(parts)
    return str(detail)


def _call(proc: ProcessState, token: str, method: str, path: str, json=None) -> httpx.Response:
    url = proc.url + path
    try:
        resp = httpx.request(method, url, json=json, timeout=TIMEOUT_S,
                             headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as err:
        raise StackError(f"{proc.id} at {proc.url}: not reachable "
                         f"({type(err).__name__}: {err})") from None
    if resp.status_code < 300:
        return resp
    try:
        detail = format_detail(resp.json().get("detail", resp.text))
    except ValueError:
        detail = resp.text.strip()[:200]
    if resp.status_code == 422:
        raise ValidationError(f"{proc.id}: {detail}")
    if resp.status_code == 401:
        raise StackError(f"{proc.id}: admin token refused (401); the token must be the run's "
                         f"<run>/token")
    raise StackError(f"{proc.id}: {method} {path} answered {resp.status_code}: {detail}")


def add_fault(procs: list[ProcessState], token: str, fault: dict) -> list[tuple[str, dict]]:
    """POST the fault to each process; returns (process id, fault as stored)."""
    return [(p.id, _call(p, token, "POST", "/admin/faults", json=fault).json()) for p in procs]


def list_faults(procs: list[ProcessState], token: str) -> list[tuple[str, list[dict]]]:
    return [(p.id, _call(p, token, "GET", "/admin/faults").json().get("faults", []))
            for p in procs]


def clear_faults(procs: list[ProcessState], token: str) -> list[tuple[str, int]]:
    return [(p.id, int(_call(p, token, "DELETE", "/admin/faults").json().get("cleared", 0)))
            for p in procs]


def remove_fault(procs: list[ProcessState], token: str, fault_id: str) -> list[str]:
    """Delete one fault id wherever it exists; returns the process ids it was removed from."""
    removed = []
    for p in procs:
        try:
            _call(p, token, "DELETE", f"/admin/faults/{fault_id}")
            removed.append(p.id)
        except StackError as err:
            if "answered 404" not in str(err):
                raise
    return removed


def fault_types(proc: ProcessState, token: str) -> list[dict]:
    return _call(proc, token, "GET", "/admin/faults/types").json().get("types", [])
