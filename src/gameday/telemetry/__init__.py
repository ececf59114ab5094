"""Shared telemetry for the sample services: HTTP RED metrics, /metrics, JSON logs, request ids.

A service wires it in one call::

    registry = CollectorRegistry()
    install_telemetry(app, service="classifier", registry=registry)
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)
from starlette.middleware.errors import ServerErrorMiddleware

from gameday.telemetry.logs import REQUEST_ID_HEADER, configure_logging, request_id_var
from gameday.telemetry.metrics import HttpMetrics
from gameday.telemetry.middleware import HttpTelemetryMiddleware

__all__ = [
    "REQUEST_ID_HEADER",
    "HttpMetrics",
    "configure_logging",
    "install_telemetry",
    "request_id_var",
]


def install_telemetry(app: FastAPI, service: str, registry: CollectorRegistry,
                      inner=None) -> HttpMetrics:
    """Wrap ``app`` in the request-id + HTTP-metrics layer and add a /metrics route.

    The layer wraps the whole middleware stack (outside Starlette's error middleware) and,
    when ``install_faults`` was called too (before or after), also applies the faults.
    ``inner(asgi_app) -> asgi_app``: a layer of the service's own, placed right inside the
    telemetry layer and outside the framework's middleware (the gateway's load shedding: a
    refused request is counted and timed, and costs none of the framework's layers).
    """
    # ``*_created`` samples double the series count and no SLO or dashboard reads them.
    disable_created_metrics()
    metrics = HttpMetrics(service, registry)
    build = app.build_middleware_stack

    def build_with_telemetry():
        # At the first request or lifespan: every route is in, and so is any fault store.
        # /metrics goes last, so that traffic is not first tried against it.
        routes = app.router.routes
        routes[:] = [r for r in routes if r is not scrape] + [scrape]
        stack = build()
        # Starlette's outermost layer, ServerErrorMiddleware, with no handler of the app's
        # and no debug page only turns an unhandled error into a plain 500: the layer does
        # that itself, one layer less on every request (bench/README.md, target 1).
        plain = (isinstance(stack, ServerErrorMiddleware) and stack.handler is None
                 and not stack.debug)
        wrapped = stack.app if plain else stack
        if inner is not None:
            wrapped = inner(wrapped)
        return HttpTelemetryMiddleware(wrapped, metrics=metrics,
                                       routes=app.router.routes,
                                       faults=getattr(app.state, "faults", None),
                                       answers_errors=plain)

    app.build_middleware_stack = build_with_telemetry

    # async, on the event loop: a sync route waits for a worker thread, then for the loop
    # again, and under overload each wait is a turn of a loop busy with every request in
    # flight (the gateway under 240 clients: 0.6-1.1 s a scrape instead of 0.7-2.3 s).
    # Rendering takes a few milliseconds of the loop once a scrape.
    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    scrape = app.router.routes[-1]
    app.state.registry = registry
    app.state.http_metrics = metrics
    return metrics
