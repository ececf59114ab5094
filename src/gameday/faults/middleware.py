"""ASGI middleware applying request faults: latency, error, abort, hang, crash-on-request.

With telemetry installed, the HTTP telemetry layer (gameday.telemetry.middleware) calls it
while a fault is on, inside its metrics, so what it does shows up as symptoms (slow answers,
5xx) and never as a fault metric. Alone, it wraps the whole app itself.
"""

from __future__ import annotations

import json
import logging
import os
import random

from gameday.faults.store import FaultStore
from gameday.telemetry.conventions import UNCOUNTED_PREFIXES

log = logging.getLogger("gameday.faults")
TRANSPORT_KEY = "gameday.transport"


def capture_transport(scope, send) -> bool:
    """Remember the server's transport (the owner of uvicorn's own ``send``) so that 'abort'
    can drop the connection; only the outermost layer sees that ``send``. True if captured.

    The owner holds the scope, so this makes a reference cycle: whoever captures must
    ``release_transport`` when the request is done, or every request's objects wait for the
    cyclic garbage collector (about 5% of a trivial request's CPU, measured with wrk)."""
    owner = getattr(send, "__self__", None)
    transport = getattr(owner, "transport", None)
    if transport is None:
        return False
    scope[TRANSPORT_KEY] = (owner, transport)
    return True


def release_transport(scope) -> None:
    scope.pop(TRANSPORT_KEY, None)


class FaultMiddleware:
    def __init__(self, app, store: FaultStore, rng: random.Random | None = None) -> None:
        self.app = app
        self.store = store
        self.rng = rng or random.Random()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(UNCOUNTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        if not self.store.has_faults:
            await self.app(scope, receive, send)
            return
        captured = TRANSPORT_KEY not in scope and capture_transport(scope, send)
        try:
            await self._apply(scope, receive, send)
        finally:
            if captured:
                release_transport(scope)

    async def _apply(self, scope, receive, send):
        path = scope["path"]
        hit = [f for f in self.store.list() if f.matches(path) and f.roll(self.rng)]
        if not hit:
            await self.app(scope, receive, send)
            return
        by_type = {}
        for f in hit:
            by_type.setdefault(f.type, f)

        # A held request (latency, hang) is let go as soon as its fault is cleared.
        for f in hit:
            if f.type == "latency":
                delay = (f.params["delay_ms"] + self.rng.uniform(0, f.params["jitter_ms"]))
                await self.store.hold(f, delay / 1000.0)

        crash = by_type.get("crash")
        if crash is not None and crash.params.get("on_request"):
            log.error("crash fault: exiting", extra={"fault_id": crash.id})
            os._exit(crash.params["exit_code"])
        if "hang" in by_type:
            f = by_type["hang"]
            await self.store.hold(f, f.params.get("max_s") or f.remaining_s())
        if "abort" in by_type:
            await self._abort(scope, send)
            return
        if "error" in by_type:
            f = by_type["error"]
            await _send_json(send, f.params["status"], {"error": f.params["message"]})
            return
        await self.app(scope, receive, send)

    async def _abort(self, scope, send) -> None:
        captured = scope.get(TRANSPORT_KEY)
        if captured is not None:
            owner, transport = captured
            # Mark the cycle disconnected so the server does not try to answer on our behalf.
            if hasattr(owner, "disconnected"):
                owner.disconnected = True
            transport.abort()
            return
        # No transport (in-process test client): start a response, then break it.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise ConnectionAbortedError("fault: connection aborted")


async def _send_json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode())]
    if status in (429, 503):
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
