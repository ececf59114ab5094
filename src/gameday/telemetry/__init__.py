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

from gameday.telemetry.logs import (
    REQUEST_ID_HEADER,
    RequestIdMiddleware,
    configure_logging,
    request_id_var,
)
from gameday.telemetry.metrics import HttpMetrics, HttpMetricsMiddleware

__all__ = [
    "REQUEST_ID_HEADER",
    "HttpMetrics",
    "configure_logging",
    "install_telemetry",
    "request_id_var",
]


def install_telemetry(app: FastAPI, service: str, registry: CollectorRegistry) -> HttpMetrics:
    """Add request-id and HTTP-metrics middleware and a /metrics route to ``app``."""
    # ``*_created`` samples double the series count and no SLO or dashboard reads them.
    disable_created_metrics()
    metrics = HttpMetrics(service, registry)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics, routes=app.router.routes)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.registry = registry
    app.state.http_metrics = metrics
    return metrics
