"""One ASGI layer for every HTTP request: request id, RED metrics, and faults when any are on.

It wraps the whole app, outside Starlette's error middleware, so it sees the server's own
``send`` (whose transport an ``abort`` fault drops) and counts an unhandled error as the 500
that error middleware answered. One layer rather than four: each ASGI layer is a coroutine
frame that every resumption of the request's task passes through, and on a trivial route
four of them cost about 20% of the throughput (bench/README.md, target 1).

With a fault store, requests go through :class:`gameday.faults.middleware.FaultMiddleware`
only while a fault is on; its answers are counted like any other, so injected failures show
up as symptoms and never as fault metrics.
"""

from __future__ import annotations

import random
import time

from gameday.telemetry.conventions import UNCOUNTED_PREFIXES
from gameday.telemetry.logs import REQUEST_ID_HEADER, request_id_var
from gameday.telemetry.metrics import HttpMetrics, route_template

_HEADER = REQUEST_ID_HEADER.encode()
_MAX_ID = 64


def new_request_id() -> str:
    """16 hex digits; not a secret, so the cheap PRNG rather than os.urandom."""
    return f"{random.getrandbits(64):016x}"


def incoming_request_id(headers) -> str | None:
    for key, value in headers:
        if key == _HEADER:
            return value.decode("latin-1")[:_MAX_ID] or None
    return None


class HttpTelemetryMiddleware:
    """Binds the request id (echoed in ``x-request-id``), counts and times every request but
    /metrics and /admin, and hands requests to the fault middleware while faults are on."""

    def __init__(self, app, metrics: HttpMetrics, routes=(), faults=None) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.faults = faults
        self.faulty = self.capture = self.release = None
        if faults is not None:
            # Imported here: gameday.faults imports telemetry conventions at load.
            from gameday.faults.middleware import (
                FaultMiddleware,
                capture_transport,
                release_transport,
            )

            self.faulty = FaultMiddleware(app, faults)
            self.capture, self.release = capture_transport, release_transport

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":  # every route is included by now
                self.metrics.preinit(self.routes)
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope["headers"]) or new_request_id()
        token = request_id_var.set(rid)
        rid_header = (_HEADER, rid.encode("latin-1"))
        if scope["path"].startswith(UNCOUNTED_PREFIXES):
            try:
                await self.app(scope, receive, _tagging(send, rid_header))
            finally:
                request_id_var.reset(token)
            return
        inner = self.app
        captured = False
        if self.faulty is not None and self.faults.has_faults:
            inner = self.faulty
            captured = self.capture(scope, send)  # released below: it makes a cycle
        start = time.perf_counter()
        code = 499  # a connection dropped before any answer

        async def counting_send(message):
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            await send(message)

        gauge = self.metrics.in_flight_child
        gauge.inc()
        try:
            await inner(scope, receive, counting_send)
        except BaseException:
            if code == 499:
                code = 500
            raise
        finally:
            gauge.dec()
            request_id_var.reset(token)
            if captured:
                self.release(scope)
            self.metrics.observe(route_template(scope, self.routes), scope["method"], code,
                                 time.perf_counter() - start)


def _tagging(send, rid_header):
    async def tagged(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), rid_header]}
        await send(message)
    return tagged
