"""The faults active in one process, optionally mirrored to a file.

With a file, faults survive a restart of the process until their TTL (a crash fault then
makes a crash loop, as a bad config does), and expired ones are dropped on load.

In a wheel the stack puts that file outside the run folder (``.gameday/sealed/<run-id>-stack/``,
gameday.stack.plan) and gives ``$GAMEDAY_FAULTS_LOG``: the lines this module's logger writes
("fault added" with its type, "fault expired", a crash fault's exit) go to that file only,
not to the process's log in the run folder, until the drill reveals them.

Requests a fault holds (hang, latency) wait in :meth:`FaultStore.hold`, which returns as
soon as the fault is removed, cleared or expires: a cleared fault lets go of what it holds
at once, whichever thread cleared it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from pydantic import ValidationError as PydanticValidationError

from gameday.errors import ValidationError
from gameday.faults.catalog import Params
from gameday.faults.model import Fault, FaultSpec
from gameday.text import validate_text

log = logging.getLogger("gameday.faults")
FAULTS_LOG_ENV = "GAMEDAY_FAULTS_LOG"


def seal_fault_log(path: str | Path | None = None) -> Path | None:
    """Send the ``gameday.faults`` logger's lines to ``path`` (default ``$GAMEDAY_FAULTS_LOG``)
    only, in the format of the process's own log handler; the file and its folder (mode
    0700) appear with the first line. None when there is no such path."""
    path = path or os.environ.get(FAULTS_LOG_ENV)
    if not path:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    formatter = next((h.formatter for h in logging.getLogger().handlers if h.formatter), None)
    handler = logging.FileHandler(path, delay=True, encoding="utf-8")
    if formatter is not None:
        handler.setFormatter(formatter)
    log.handlers[:] = [handler]
    log.propagate = False
    return path


def _short(value, limit: int = 80) -> str:
    text = ascii(value)  # never a lone surrogate or a 10 MB echo in an answer
    return text if len(text) <= limit else text[:limit - 3] + "..."


def format_pydantic_error(where: str, err: PydanticValidationError) -> str:
    parts = []
    for e in err.errors()[:10]:
        field = ".".join(_short(x, 40).strip("'") if isinstance(x, str) else str(x)
                         for x in e["loc"]) or "(body)"
        parts.append(f"{where}: field '{field}': {e['msg']}, got {_short(e.get('input'))}")
    return "; ".join(parts)


class FaultStore:
    def __init__(self, types: dict[str, type[Params]], path: str | Path | None = None) -> None:
        self.types = types
        self.path = Path(path) if path else None
        self._faults: dict[str, Fault] = {}
        self._holds: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()
        if os.environ.get(FAULTS_LOG_ENV):
            seal_fault_log()
        if self.path and self.path.exists():
            self._load()

    # -- checks, then changes -------------------------------------------------------
    def validate(self, spec: FaultSpec) -> dict:
        """Return the fault's parameters with defaults filled in, or raise naming the bad value."""
        validate_text(spec.model_dump(), "fault")
        model = self.types.get(spec.type)
        if model is None:
            known = ", ".join(sorted(self.types))
            raise ValidationError(f"fault: field 'type': unknown fault type {spec.type!r}; "
                                  f"this service accepts: {known}")
        try:
            return model.model_validate(spec.params).model_dump()
        except PydanticValidationError as err:
            where = f"fault {spec.type!r} params"
            raise ValidationError(format_pydantic_error(where, err)) from None

    def add(self, spec: FaultSpec) -> Fault:
        params = self.validate(spec)
        fault = Fault.from_spec(spec, params)
        with self._lock:
            self._faults[fault.id] = fault
            self._save()
        log.info("fault added", extra={"fault_id": fault.id, "fault_type": fault.type,
                                       "ttl_s": fault.ttl_s})
        return fault

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            found = self._faults.pop(fault_id, None) is not None
            if found:
                self._save()
                self._release([fault_id])
        return found

    def clear(self) -> int:
        with self._lock:
            n = len(self._faults)
            self._release(list(self._faults))
            self._faults.clear()
            self._save()
        return n

    # -- holding requests ---------------------------------------------------------------
    async def hold(self, fault: Fault, seconds: float) -> None:
        """Wait ``seconds`` at most, and no longer than ``fault`` is held: its removal,
        a clear or its expiry ends the wait at once."""
        seconds = min(seconds, fault.remaining_s())
        if seconds <= 0:
            return
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if fault.id not in self._faults:
                return
            self._holds.setdefault(fault.id, []).append(entry)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry[1].wait(), seconds)
        finally:
            with self._lock:
                held = self._holds.get(fault.id)
                if held is not None and entry in held:
                    held.remove(entry)
                    if not held:
                        del self._holds[fault.id]

    def _release(self, fault_ids: list[str]) -> None:
        """Wake every request held by these faults (called with the lock held)."""
        for fid in fault_ids:
            for loop, event in self._holds.pop(fid, []):
                with contextlib.suppress(RuntimeError):  # that loop has closed
                    loop.call_soon_threadsafe(event.set)

    # -- reads ------------------------------------------------------------------------
    @property
    def has_faults(self) -> bool:
        """Any fault held, expired or not: the one check a request pays when none is on."""
        return bool(self._faults)

    def prune(self, now: float | None = None) -> list[Fault]:
        """Drop expired faults and return them."""
        now = time.time() if now is None else now
        with self._lock:
            gone = [f for f in self._faults.values() if f.expired(now)]
            for f in gone:
                del self._faults[f.id]
            if gone:
                self._save()
                self._release([f.id for f in gone])
        for f in gone:
            log.info("fault expired", extra={"fault_id": f.id, "fault_type": f.type})
        return gone

    def list(self) -> list[Fault]:
        now = time.time()
        with self._lock:
            return sorted((f for f in self._faults.values() if not f.expired(now)),
                          key=lambda f: f.created_at)

    def active(self, type_: str, path: str | None = None) -> list[Fault]:
        """Unexpired faults of one type, optionally only those whose route matches ``path``."""
        return [f for f in self.list() if f.type == type_ and (path is None or f.matches(path))]

    def first(self, type_: str, path: str | None = None) -> Fault | None:
        found = self.active(type_, path)
        return found[0] if found else None

    # -- persistence --------------------------------------------------------------------
    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text())
            now = time.time()
            for item in raw.get("faults", []):
                f = Fault.model_validate(item)
                if not f.expired(now) and f.type in self.types:
                    self._faults[f.id] = f
        except (OSError, ValueError) as err:
            log.warning("ignoring unreadable fault file", extra={"path": str(self.path),
                                                                 "error": str(err)})

    def _save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = json.dumps({"faults": [f.model_dump() for f in self._faults.values()]})
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".faults-")
        with os.fdopen(fd, "w") as fh:
            fh.write(data)
        os.replace(tmp, self.path)
