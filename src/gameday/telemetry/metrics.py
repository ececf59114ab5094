"""RED metrics for HTTP, recorded by a pure ASGI middleware.

The ``route`` label is the route template (``/v1/features/{entity_id}``), never the raw
path, so label values stay bounded.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.routing import Match

from gameday.telemetry import conventions as c


class HttpMetrics:
    """The HTTP metric family of one service, registered on an injected registry."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status code.",
            c.HTTP_LABELS,
            registry=registry,
        )
        self.duration = Histogram(
            c.HTTP_REQUEST_DURATION_SECONDS,
            "Time from request received to response complete, in seconds.",
            c.HTTP_DURATION_LABELS,
            buckets=c.LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            c.HTTP_REQUESTS_IN_FLIGHT,
            "HTTP requests being served right now.",
            ["service"],
            registry=registry,
        )
        self.in_flight.labels(service)

    def preinit(self, routes) -> None:
        """Create the 200 series of every /v1 route at 0 before any request: a counter that
        appears mid-run with a first sample above 0 is extrapolated differently by rate()
        than one that starts at 0, which skews ratios of the two (Prometheus' advice:
        initialise your counters)."""
        for path, route in _flatten(routes):
            if not path.startswith("/v1/"):
                continue
            for method in sorted(getattr(route, "methods", None) or ()):
                if method in ("HEAD", "OPTIONS"):
                    continue
                self.requests.labels(self.service, path, method, "200")
                self.duration.labels(self.service, path, method)

    def observe(self, route: str, method: str, code: int, seconds: float) -> None:
        self.requests.labels(self.service, route, method, str(code)).inc()
        self.duration.labels(self.service, route, method).observe(seconds)


def route_template(scope: dict, routes=()) -> str:
    """The template of the route serving ``scope``; matched here when a middleware answered
    before routing (an injected fault, say), so the label is the same either way."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return path
    return _find_template(routes, scope) or c.UNMATCHED_ROUTE


def _flatten(routes, prefix: str = ""):
    """(full path, route) of every route, inside FastAPI's lazily included routers too."""
    for candidate in routes:
        included = getattr(candidate, "original_router", None)
        if included is not None:
            context = getattr(candidate, "include_context", None)
            yield from _flatten(included.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif getattr(candidate, "path", None):
            yield prefix + candidate.path, candidate


def _find_template(routes, scope: dict) -> str | None:
    for candidate in routes:
        included = getattr(candidate, "original_router", None)  # FastAPI's lazy include
        if included is not None:
            context = getattr(candidate, "include_context", None)
            prefix = getattr(context, "prefix", "") or ""
            if scope["path"].startswith(prefix):
                found = _find_template(included.routes,
                                       {**scope, "path": scope["path"][len(prefix):]})
                if found:
                    return prefix + found
            continue
        if getattr(candidate, "path", None) and hasattr(candidate, "path_regex"):
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                return candidate.path
    return None


class HttpMetricsMiddleware:
    """Counts every answered request; a connection dropped before any answer counts as 499."""

    def __init__(self, app, metrics: HttpMetrics, routes=()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":  # every route is included by now
            self.metrics.preinit(self.routes)
        if scope["type"] != "http" or scope["path"].startswith(c.UNCOUNTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 499}
        gauge = self.metrics.in_flight.labels(self.metrics.service)

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        gauge.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            if status["code"] == 499:
                status["code"] = 500
            raise
        finally:
            gauge.dec()
            self.metrics.observe(
                route_template(scope, self.routes), scope["method"], status["code"],
                time.perf_counter() - start,
            )
