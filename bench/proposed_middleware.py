"""A proposed fix, measured by bench_http_overhead.py as the variant ``proposed``.

Not used by the services: src/gameday/telemetry and src/gameday/faults belong to their
owners; this file shows the change and its effect, the owners decide.

What the profile of the ``gameday`` variant shows (py-spy, and cProfile in process): the
cost is not in any one function of ours but in two structural things.

A. Route order. ``install_faults`` includes its admin router (/admin/faults...) when it is
   called, before the service includes its own routers, so every request to /v1/... is
   first tried against the five admin routes; FastAPI 0.165 matches an included router
   lazily (``_IncludedRouter``, ``routing.py:_match``), and that costs about as much as all
   our middleware together (in-process CPU per request, trivial route: faults only
   +11% over bare; the same with the admin router moved last +0%).
B. Depth of the middleware stack. Every request crosses four extra ASGI layers
   (TransportCapture, RequestIdMiddleware, HttpMetricsMiddleware, FaultMiddleware), each an
   extra coroutine frame that every resumption of the request's task passes through (a sync
   route resumes it about 7 times: the thread-pool hop, the body, the response), plus two
   ``send`` wrappers, three ``labels()`` look-ups (a lock and a tuple each) and a
   ``uuid4()`` (an os.urandom call) per request.

The proposal, same behaviour (checked: request id echoed or made, counts by route
template and code, 404 as <unmatched>, an injected error fault still answers and counts):

0. the admin router matched after the service's own routes (moved last at start-up, or
   included by ``install_faults`` from the lifespan, when every route is in);
1. one ASGI layer that captures the transport, binds the request id, counts the request and
   hands over to ``FaultMiddleware`` only when a fault is active (an empty store costs one
   dict check, not a lock and a sort);
2. the labelled children of the counter and histogram cached per (route, method, code);
3. request ids from ``random.getrandbits(64)`` (16 hex digits, as now) instead of uuid4.
"""

from __future__ import annotations

import random
import time

from fastapi import FastAPI

from gameday.faults.middleware import TRANSPORT_KEY, FaultMiddleware, TransportCapture
from gameday.telemetry.conventions import UNCOUNTED_PREFIXES
from gameday.telemetry.logs import REQUEST_ID_HEADER, RequestIdMiddleware, request_id_var
from gameday.telemetry.metrics import HttpMetricsMiddleware, route_template

HEADER = REQUEST_ID_HEADER.encode()


class FusedMiddleware:
    def __init__(self, app, metrics, routes, store) -> None:
        self.app = app
        self.faulty = FaultMiddleware(app, store)
        self.store = store
        self.metrics = metrics
        self.routes = routes
        self.gauge = metrics.in_flight.labels(metrics.service)
        self.children: dict = {}

    def observe(self, route: str, method: str, code: int, seconds: float) -> None:
        key = (route, method, code)
        pair = self.children.get(key)
        if pair is None:
            m = self.metrics
            pair = self.children[key] = (m.requests.labels(m.service, route, method, str(code)),
                                         m.duration.labels(m.service, route, method))
        pair[0].inc()
        pair[1].observe(seconds)

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "lifespan":
            self.metrics.preinit(self.routes)
        if kind != "http":
            await self.app(scope, receive, send)
            return
        owner = getattr(send, "__self__", None)
        transport = getattr(owner, "transport", None)
        if transport is not None:
            scope[TRANSPORT_KEY] = (owner, transport)
        rid = None
        for key, value in scope["headers"]:
            if key == HEADER:
                rid = value.decode("latin-1")[:64]
                break
        rid = rid or f"{random.getrandbits(64):016x}"
        token = request_id_var.set(rid)
        rid_header = (HEADER, rid.encode("latin-1"))
        inner = self.faulty if self.store._faults else self.app
        if scope["path"].startswith(UNCOUNTED_PREFIXES):
            async def tag(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()), rid_header]}
                await send(message)
            try:
                await self.app(scope, receive, tag)
            finally:
                request_id_var.reset(token)
            return
        start = time.perf_counter()
        code = 499

        async def send_wrapper(message):
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            await send(message)

        self.gauge.inc()
        try:
            await inner(scope, receive, send_wrapper)
        except BaseException:
            if code == 499:
                code = 500
            raise
        finally:
            self.gauge.dec()
            request_id_var.reset(token)
            self.observe(route_template(scope, self.routes), scope["method"], code,
                         time.perf_counter() - start)


def fuse(app: FastAPI) -> FastAPI:
    """Replace the four layers ``install_faults`` + ``install_telemetry`` put on ``app``
    (routes, admin API, lifespan effects and app.state stay as they installed them)."""
    ours = (RequestIdMiddleware, HttpMetricsMiddleware, FaultMiddleware)
    kept = [m for m in app.user_middleware if m.cls not in ours]
    metrics_mw = next(m for m in app.user_middleware if m.cls is HttpMetricsMiddleware)
    app.user_middleware[:] = kept
    app.add_middleware(FusedMiddleware, metrics=app.state.http_metrics,
                       routes=metrics_mw.kwargs["routes"], store=app.state.faults)
    if "build_middleware_stack" in vars(app):  # drop install_faults' TransportCapture wrap
        del app.build_middleware_stack
    assert TransportCapture  # the wrap this layer replaces
    move_admin_routes_last(app)
    return app


def move_admin_routes_last(app: FastAPI) -> None:
    """Routes under /admin after the service's own (no path overlaps: /admin vs /v1)."""
    def is_admin(route) -> bool:
        inner = getattr(route, "original_router", None)
        paths = [r.path for r in inner.routes] if inner is not None else [
            getattr(route, "path", "")]
        return bool(paths) and all(p.startswith("/admin") for p in paths)

    routes = app.router.routes
    admin = [r for r in routes if is_admin(r)]
    routes[:] = [r for r in routes if not is_admin(r)] + admin
