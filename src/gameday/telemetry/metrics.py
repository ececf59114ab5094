"""RED metrics for HTTP (recorded by gameday.telemetry.middleware).

The ``route`` label is the route template (``/v1/features/{entity_id}``), never the raw
path, so label values stay bounded.

The three families (``http_requests_total``, ``http_request_duration_seconds``,
``http_requests_in_flight``) are kept as plain numbers and turned into Prometheus samples
only when scraped, by a collector on the injected registry. prometheus_client's own
Counter, Histogram and Gauge take a lock and run checks on every update: five of them per
request were about a third of what the telemetry layer cost on a trivial route
(bench/README.md, target 1). Updates come from the event loop thread only; a scrape (any
thread) copies each series in one C-level operation, so it never sees a half-made series,
and a histogram's ``_count`` is its ``+Inf`` bucket, as the format requires.
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from starlette.routing import Match

from gameday.telemetry import conventions as c


class HttpMetrics:
    """The HTTP metric family of one service, registered on an injected registry."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        self.bounds = c.LATENCY_BUCKETS  # sorted
        self.in_flight = 0
        # (route, method, code) -> [count, histogram of (route, method)]; a histogram is
        # [sum, count in bucket 0, ..., count in bucket n-1, count above the last bound].
        self._series: dict[tuple[str, str, int], list] = {}
        self._histograms: dict[tuple[str, str], list] = {}
        registry.register(_HttpCollector(self))

    def preinit(self, routes) -> None:
        """Create at 0, before any request, the series of every /v1 route for each code it
        can answer that an SLO or a dashboard reads: its success code, 500 (any unhandled
        error) and the 429 and 5xx answers it documents (``responses=`` of the route).
        A counter that appears mid-run with a first sample above 0 loses that first
        increment to rate(), which skews ratios (Prometheus' advice: initialise your
        counters)."""
        for path, route in _flatten(routes):
            if not path.startswith("/v1/"):
                continue
            codes = {getattr(route, "status_code", None) or 200, 500}
            for code in (getattr(route, "responses", None) or {}):
                if str(code).isdigit() and (int(code) == 429 or int(code) >= 500):
                    codes.add(int(code))
            for method in sorted(getattr(route, "methods", None) or ()):
                if method in ("HEAD", "OPTIONS"):
                    continue
                for code in sorted(codes):
                    self._series_for(path, method, code)

    def observe(self, route: str, method: str, code: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        series = self._series.get((route, method, code)) or self._series_for(route, method, code)
        series[0] += 1
        histogram = series[1]
        histogram[0] += seconds
        histogram[bisect_left(self.bounds, seconds) + 1] += 1

    def _series_for(self, route: str, method: str, code: int) -> list:
        key = (route, method, code)
        if key not in self._series:
            histogram = self._histograms.get((route, method))
            if histogram is None:
                histogram = self._histograms[(route, method)] = [0.0] * (len(self.bounds) + 2)
            self._series[key] = [0, histogram]
        return self._series[key]

    def collect(self):
        """The samples of the three families as they are now."""
        labels = [self.service]
        requests = CounterMetricFamily(
            "http_requests", "HTTP requests answered, by route template, method and status code.",
            labels=c.HTTP_LABELS)
        for (route, method, code), series in list(self._series.items()):
            requests.add_metric([*labels, route, method, str(code)], series[0])
        yield requests
        duration = HistogramMetricFamily(
            c.HTTP_REQUEST_DURATION_SECONDS,
            "Time from request received to response complete, in seconds.",
            labels=c.HTTP_DURATION_LABELS)
        edges = [floatToGoString(b) for b in self.bounds] + ["+Inf"]
        for (route, method), histogram in list(self._histograms.items()):
            snapshot = list(histogram)
            cumulative, total = [], 0
            for edge, n in zip(edges, snapshot[1:], strict=True):
                total += n
                cumulative.append((edge, total))
            duration.add_metric([*labels, route, method], cumulative, snapshot[0])
        yield duration
        in_flight = GaugeMetricFamily(c.HTTP_REQUESTS_IN_FLIGHT,
                                      "HTTP requests being served right now.", labels=["service"])
        in_flight.add_metric(labels, self.in_flight)
        yield in_flight


class _HttpCollector:
    """Adapts :class:`HttpMetrics` to the registry's collector protocol."""

    def __init__(self, metrics: HttpMetrics) -> None:
        self.metrics = metrics

    def collect(self):
        return self.metrics.collect()

    def describe(self):  # names only, so a second registration of them fails at once
        return [CounterMetricFamily("http_requests", "", labels=c.HTTP_LABELS),
                HistogramMetricFamily(c.HTTP_REQUEST_DURATION_SECONDS, "",
                                      labels=c.HTTP_DURATION_LABELS),
                GaugeMetricFamily(c.HTTP_REQUESTS_IN_FLIGHT, "", labels=["service"])]


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
