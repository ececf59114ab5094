"""The one client of the faults on a run's services, and the timeline of every change.

Both front ends use it: ``gameday faults add|list|clear|remove|types`` (who: the person at
the keyboard) and the Chaos Toolkit actions ``inject_fault`` / ``clear_faults`` (who:
``chaos``). It checks a fault before calling anyone (:func:`validate_fault`: one TTL bound,
:data:`gameday.faults.model.MAX_TTL_S`), talks to each process's admin API with the run's
token (gameday.stack.admin), and appends ``fault_start`` / ``fault_end`` to the run's
timeline (docs/timeline.md) with who did it, so a fault added by hand during a drill is in
the timeline, the report and the postmortem like the experiment's own::

    body = validate_fault("classifier", "latency", {"delay_ms": 500}, ttl="2m")
    client = FaultClient.for_run(None, who="ann")   # the current run; its stack must run
    client.add("classifier", body)                  # [(process id, fault as stored)]
    client.clear("classifier")                      # [(process id, how many removed)]

Nothing here loads FastAPI: the command line imports it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from gameday.durations import format_duration, parse_duration
from gameday.errors import StackError, ValidationError
from gameday.faults.model import DEFAULT_ROUTE, MAX_TTL_S
from gameday.runfolder import Run, resolve_run
from gameday.stack import admin
from gameday.stack.state import StackState
from gameday.timeline import append_event

log = logging.getLogger("gameday.faults")

__all__ = ["ARGUMENT_NAMES", "FaultClient", "fault_fields", "validate_fault"]

# What each value is called in messages, by default (the Chaos Toolkit actions' argument
# names); the command line passes its option names instead.
ARGUMENT_NAMES = {"type": "fault_type", "params": "params", "route": "route",
                  "probability": "probability", "ttl": "ttl"}


def _ttl_seconds(ttl: str | float, where: str) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, str | int | float):
        raise ValidationError(f"{where}: not a duration, got {ttl!r}; use a number of "
                              f"seconds or text like 30s, 2m, 1h")
    if isinstance(ttl, str):
        seconds = parse_duration(ttl, where=where)
    elif not math.isfinite(ttl) or ttl <= 0:
        raise ValidationError(f"{where}: must be above zero, got {ttl!r}")
    else:
        seconds = float(ttl)
    if seconds > MAX_TTL_S:
        raise ValidationError(f"{where}: at most {format_duration(MAX_TTL_S)}, got {ttl!r}")
    return seconds


def validate_fault(service: str, fault_type: str, params: dict | None = None, *,
                   ttl: str | float, route: str = DEFAULT_ROUTE, probability: float = 1.0,
                   names: dict[str, str] | None = None) -> dict:
    """The admin API's request body for this fault, or ValidationError naming the bad value.

    Checks the TTL (above zero, at most MAX_TTL_S), the probability, and, for a service
    gameday knows, the type and its parameters against the catalogue, as the service would
    (a service gameday does not know answers for itself).
    """
    from pydantic import ValidationError as PydanticValidationError

    from gameday.faults.catalog import SERVICE_TYPES, types_for
    from gameday.faults.model import FaultSpec
    from gameday.faults.store import format_pydantic_error

    name = {**ARGUMENT_NAMES, **(names or {})}
    ttl_s = _ttl_seconds(ttl, name["ttl"])
    if isinstance(probability, bool) or not isinstance(probability, int | float) \
            or not 0.0 <= probability <= 1.0:
        raise ValidationError(f"{name['probability']}: must be from 0 to 1, got "
                              f"{probability!r}")
    if params is not None and not isinstance(params, dict):
        raise ValidationError(f"{name['params']}: must be an object, got {params!r}")
    params = dict(params or {})
    if service in SERVICE_TYPES:
        known = types_for(service)
        if fault_type not in known:
            raise ValidationError(f"{name['type']}: {service} has no fault type "
                                  f"{fault_type!r}; types: {', '.join(known)}")
        try:
            known[fault_type].model_validate(params)
        except PydanticValidationError as err:  # worded as the services word it
            raise ValidationError(format_pydantic_error(
                f"{name['params']}: fault {fault_type!r} params", err)) from None
    body = {"type": fault_type, "params": params, "route": route,
            "probability": float(probability), "ttl_s": ttl_s}
    try:
        FaultSpec.model_validate(body)  # the services' own model: nothing they would refuse
    except PydanticValidationError as err:
        raise ValidationError(format_pydantic_error("fault", err)) from None
    return body


def fault_fields(service: str | None, added: list[tuple[str, dict]],
                 body: dict | None = None) -> dict:
    """``service``, ``fault``, ``processes`` and ``fault_ids`` of a ``fault_start`` event,
    from the faults as the services stored them (else from the request ``body``)."""
    stored = added[0][1] if added and isinstance(added[0][1], dict) else {}
    asked = body or {}
    fault = {key: stored.get(key, asked.get(key))
             for key in ("type", "params", "route", "probability", "ttl_s")}
    return {"service": service, "fault": fault, "processes": [pid for pid, _ in added],
            "fault_ids": [f.get("id") for _, f in added if isinstance(f, dict)]}


class FaultClient:
    """The faults of one running stack, acted on by ``who``; every change is on the run's
    timeline. Errors: StackError (not running, not reachable, token refused),
    ValidationError (the service refused the fault, quoting it), NotFoundError."""

    def __init__(self, run: Run, state: StackState, who: str) -> None:
        self.run = run
        self.state = state
        self.who = who

    @classmethod
    def for_run(cls, run: Run | str | Path | None, who: str) -> FaultClient:
        """The client of ``run`` (a Run, id or folder; None: the current run), checked to
        have a live stack."""
        from gameday.stack.control import load_state, supervisor_alive

        r, state = load_state(resolve_run(run))
        if not supervisor_alive(state):
            raise StackError(f"run {r.id} is not running ({state.status}); start the stack "
                             f"with 'gameday up'")
        return cls(r, state, who)

    def _procs(self, service: str | None, replica: int | str | None = "all"):
        return admin.select(self.state, service, replica)

    def _record(self, kind: str, **fields) -> None:
        """Append to the run's timeline; a full disk never undoes what was done."""
        try:
            append_event(self.run.path, kind, who=self.who, **fields)
        except OSError as err:
            log.warning("gameday timeline: cannot append %s to %s: %s", kind, self.run.path,
                        err)

    # -- changes: each one on the timeline ------------------------------------------------
    def add(self, service: str, body: dict, replica: int | str | None = "all",
            ) -> list[tuple[str, dict]]:
        """POST ``body`` (from :func:`validate_fault`) to every replica of ``service`` (or
        one); (process id, fault as stored) for each. ``fault_start`` once it is in."""
        added = admin.add_fault(self._procs(service, replica), self.run.token(), body)
        fields = fault_fields(service, added, body)
        ttl = fields["fault"].get("ttl_s")
        self._record("fault_start", **fields,
                     text=f"{self.who} injected a {fields['fault']['type']} fault on "
                          f"{service}" + (f" for {format_duration(ttl)}" if ttl else ""))
        return added

    def clear(self, service: str | None = None, replica: int | str | None = "all",
              by: str | None = None) -> list[tuple[str, int]]:
        """Remove every fault of ``service`` (None: every service); (process id, how many)
        for each. ``fault_end`` when any was removed (``by``: on whose behalf, such as the
        safeguard)."""
        cleared = admin.clear_faults(self._procs(service, replica), self.run.token())
        total = sum(n for _, n in cleared)
        if total:
            extra = {"by": by} if by else {}
            self._record("fault_end", service=service, cleared=total, **extra,
                         processes=[pid for pid, n in cleared if n],
                         text=f"{by or self.who} cleared {total} fault(s) on "
                              f"{service or 'every service'}")
        return cleared

    def remove(self, fault_id: str, service: str | None = None) -> list[str]:
        """Remove one fault by id wherever it is; the process ids it was removed from.
        ``fault_end`` when it was found."""
        removed = admin.remove_fault(self._procs(service), self.run.token(), fault_id)
        if removed:
            services = sorted({pid.rpartition("-")[0] for pid in removed})
            self._record("fault_end", service=service or ", ".join(services),
                         cleared=len(removed), fault_ids=[fault_id], processes=removed,
                         text=f"{self.who} removed fault {fault_id} from "
                              f"{', '.join(removed)}")
        return removed

    # -- reads --------------------------------------------------------------------------
    def list(self, service: str | None = None) -> list[tuple[str, list[dict]]]:
        """Active faults per process of ``service`` (None: every service)."""
        return admin.list_faults(self._procs(service), self.run.token())

    def types(self, service: str) -> list[dict]:
        """The fault types ``service`` accepts, as its first replica describes them."""
        return admin.fault_types(self._procs(service)[0], self.run.token())
