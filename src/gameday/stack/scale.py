"""Scale a service of the running stack: ``gameday scale classifier 3``.

    scale_service("classifier", 3)   # start one more replica, wait until it is ready,
                                     # then put it in the gateway's pool

The supervisor starts or stops the replicas (``gameday.stack.scaling``); this side checks
the request against the run's spec first, waits for the new set to be ready, and then
tells every running caller (each gateway replica, through ``PUT /admin/upstreams/<name>``)
the new replica list, so traffic reaches the new replicas at once.
"""

from __future__ import annotations

import json
import os
import secrets
import time

import httpx

from gameday.errors import StackError, ValidationError
from gameday.stack.control import RunRef, load_state, refuse_external, supervisor_alive
from gameday.stack.spec import StackSpec
from gameday.stack.state import ProcessState, StackState


def _read_spec(run) -> StackSpec:
    try:
        return StackSpec.model_validate_json(run.spec_path.read_text())
    except (OSError, ValueError) as err:
        raise StackError(f"{run.spec_path}: cannot read the run's stack spec ({err})") from None


def validate_scale(spec: StackSpec, name: str, replicas: int) -> None:
    names = [s.name for s in spec.services]
    if name not in names:
        raise ValidationError(f"scale: no service {name!r} in the stack; have "
                              f"{', '.join(names)}")
    svc = spec.service(name)
    if not 1 <= replicas <= svc.max_replicas:
        raise ValidationError(f"scale: {name} replicas must be from 1 to {svc.max_replicas}, "
                              f"got {replicas}")


def send_request(run, body: dict) -> None:
    """Drop a request file for the supervisor (atomically: it never reads half a file)."""
    run.control_dir.mkdir(exist_ok=True)
    tmp = run.control_dir / f".req-{secrets.token_hex(4)}"
    tmp.write_text(json.dumps({**body, "at": time.time()}))
    os.replace(tmp, run.control_dir / f"{time.time_ns()}-{secrets.token_hex(2)}.json")


def _settled(state: StackState, name: str, replicas: int) -> list[ProcessState] | None:
    procs = [p for p in state.processes if p.name == name]
    if len(procs) == replicas and all(p.state == "ready" for p in procs):
        return procs
    return None


def update_callers(state: StackState, spec: StackSpec, name: str, token: str) -> list[str]:
    """Give each running caller of ``name`` its new replica list; returns the callers told.

    A caller without the ``/admin/upstreams`` API (your own service, say) is skipped: it gets
    the new list in its environment at its next restart.
    """
    urls = [p.url for p in state.processes if p.name == name]
    told = []
    for svc in spec.services:
        if name not in svc.upstreams.values():
            continue
        for proc in state.processes:
            if proc.name != svc.name or proc.state != "ready":
                continue
            try:
                resp = httpx.put(f"{proc.url}/admin/upstreams/{name}", json={"urls": urls},
                                 headers={"Authorization": f"Bearer {token}"}, timeout=5.0)
            except httpx.HTTPError as err:
                raise StackError(f"{proc.id}: could not update its {name} replicas "
                                 f"({type(err).__name__}: {err})") from None
            if resp.status_code in (404, 405, 501):  # no such API here
                continue
            if resp.status_code >= 300:
                raise StackError(f"{proc.id}: PUT /admin/upstreams/{name} answered "
                                 f"{resp.status_code}: {resp.text[:200]}")
            told.append(proc.id)
    return told


def scale_service(name: str, replicas: int, run: RunRef = None, wait: bool = True,
                  timeout: float = 30.0) -> list[ProcessState]:
    """Scale ``name`` to ``replicas``; with ``wait``, return the ready replicas."""
    r, state = load_state(run)
    refuse_external(state, f"service {name!r}")
    if not supervisor_alive(state):
        raise StackError(f"run {state.run_id}: supervisor (pid {state.supervisor_pid}) is not "
                         f"running; start the stack with 'gameday up'")
    spec = _read_spec(r)
    validate_scale(spec, name, replicas)
    send_request(r, {"action": "scale", "name": name, "replicas": replicas})
    if not wait:
        return [p for p in state.processes if p.name == name]
    deadline = time.monotonic() + timeout
    while True:
        _, state = load_state(r)
        procs = _settled(state, name, replicas)
        if procs is not None:
            break
        if not supervisor_alive(state):
            raise StackError(f"run {state.run_id}: supervisor stopped while scaling {name}")
        if time.monotonic() > deadline:
            have = ", ".join(f"{p.id} {p.state}" for p in state.processes if p.name == name)
            raise StackError(f"{name}: not at {replicas} ready replicas after {timeout:g} s "
                             f"(have {have}); see {r.supervisor_log}")
        time.sleep(0.1)
    update_callers(state, _read_spec(r), name, r.token())
    return procs
