"""Wiring of the gateway app: faults, telemetry, shedding, state, routers. Nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from gameday.faults import install_faults
from gameday.telemetry import install_telemetry
from gameday_services.common.errors import install_error_handlers
from gameday_services.common.limits import MAX_BODY_BYTES
from gameday_services.gateway import routes_classify, routes_generate, routes_health
from gameday_services.gateway.admin import build_admin_router
from gameday_services.gateway.metrics import GatewayMetrics
from gameday_services.gateway.settings import Settings
from gameday_services.gateway.shedding import Shedder, SheddingMiddleware
from gameday_services.gateway.state import Gateway


def create_app(settings: Settings | None = None, registry: CollectorRegistry | None = None,
               transports: Mapping[str, httpx.AsyncBaseTransport] | None = None) -> FastAPI:
    """The gateway app. ``transports`` maps URL prefixes to httpx transports (tests route
    upstream URLs to in-process apps with ``httpx.ASGITransport``)."""
    settings = settings or Settings()
    registry = registry if registry is not None else CollectorRegistry()
    gateway = Gateway(settings, GatewayMetrics(registry), transports=transports)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(title="gameday gateway", version="0.1.0", lifespan=lifespan,
                  description="Public API: classify and generate, with resilience levers.",
                  max_body_size=MAX_BODY_BYTES)
    app.state.gateway = gateway
    install_faults(app, service="gateway")
    # Shedding right inside telemetry, outside FastAPI's own layers: shed requests are
    # counted like any other answer, and a refusal costs no framework layer.
    shedder = app.state.shedder = Shedder(gateway)  # also the HTTP protocol's (early.py)
    install_telemetry(app, service="gateway", registry=registry,
                      inner=lambda stack: SheddingMiddleware(stack, shedder))
    install_error_handlers(app)
    app.include_router(routes_health.router)
    app.include_router(routes_classify.router)
    app.include_router(routes_generate.router)
    app.include_router(build_admin_router(app.state.require_admin_token))
    return app
