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
from time import perf_counter as _clock

from starlette.responses import PlainTextResponse

from gameday.telemetry.conventions import UNCOUNTED_PREFIXES
from gameday.telemetry.logs import REQUEST_ID_HEADER, request_id_var
from gameday.telemetry.metrics import HttpMetrics, route_template

_HEADER = REQUEST_ID_HEADER.encode()
MAX_REQUEST_ID = 64  # characters of an incoming request id kept
_random_bits = random.getrandbits  # request ids are not secrets: the cheap PRNG
# Starlette's ServerErrorMiddleware answers an unhandled error with exactly this
_INTERNAL_ERROR = PlainTextResponse("Internal Server Error", status_code=500)


def new_request_id() -> str:
    """A request id for a request that came without one: 16 hex digits."""
    return _random_bits(64).to_bytes(8, "big").hex()


class HttpTelemetryMiddleware:
    """Binds the request id (echoed in ``x-request-id``), counts and times every request but
    /metrics and /admin, and hands requests to the fault middleware while faults are on."""

    def __init__(self, app, metrics: HttpMetrics, routes=(), faults=None,
                 answers_errors: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.faults = faults
        # True when ``app`` is the stack without Starlette's ServerErrorMiddleware, whose
        # default this layer does then: a plain 500 for an unhandled error raised before the
        # answer started, the error raised on for the server to log.
        self.answers_errors = answers_errors
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
        # The hot path of every request: kept flat (no helper calls) because on a trivial
        # route each microsecond here is about 1% of the throughput (bench/README.md).
        if scope["type"] != "http":
            if scope["type"] == "lifespan":  # every route is included by now
                self.metrics.preinit(self.routes)
            await self.app(scope, receive, send)
            return
        rid = None
        for key, value in scope["headers"]:
            if key == _HEADER:
                rid = value.decode("latin-1")[:MAX_REQUEST_ID] or None
                break
        if rid is None:
            rid = new_request_id()
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
        start = _clock()
        code = 499  # a connection dropped before any answer

        def counting_send(message):  # returns send's awaitable: no coroutine frame of its own
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            return send(message)

        metrics = self.metrics
        metrics.in_flight += 1
        try:
            await inner(scope, receive, counting_send)
        except Exception:
            if code == 499:
                if self.answers_errors:
                    await _INTERNAL_ERROR(scope, receive, counting_send)
                code = 500
            raise
        except BaseException:
            if code == 499:
                code = 500
            raise
        finally:
            metrics.in_flight -= 1
            request_id_var.reset(token)
            if captured:
                self.release(scope)
            metrics.observe(getattr(scope.get("route"), "path", None)
                            or route_template(scope, self.routes),
                            scope["method"], code, _clock() - start)


def _tagging(send, rid_header):
    def tagged(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), rid_header]}
        return send(message)
    return tagged
