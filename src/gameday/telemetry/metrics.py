"""RED metrics for HTTP (recorded by gameday.telemetry.middleware).

The ``route`` label is the route template (``/v1/features/{entity_id}``), never the raw
path, so label values stay bounded.
"""

from __future__ import annotations

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
        self.in_flight_child = self.in_flight.labels(service)
        # Labelled children per (route, method, code): ``labels()`` takes a lock and builds
        # a tuple on every call, a visible share of a trivial request's cost.
        self._children: dict[tuple[str, str, int], tuple] = {}

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
        key = (route, method, code)
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = (
                self.requests.labels(self.service, route, method, str(code)),
                self.duration.labels(self.service, route, method))
        pair[0].inc()
        pair[1].observe(seconds)


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
