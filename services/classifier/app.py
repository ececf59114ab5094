"""The classifier's FastAPI app: wiring only."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from gameday.faults import install_faults
from gameday.telemetry import install_telemetry
from gameday_services.classifier.admin import build_admin_router
from gameday_services.classifier.routes import build_router
from gameday_services.classifier.runtime import ClassifierRuntime
from gameday_services.classifier.settings import Settings
from gameday_services.common.errors import install_error_handlers
from gameday_services.common.limits import MAX_BODY_BYTES


def create_app(settings: Settings | None = None,
               registry: CollectorRegistry | None = None) -> FastAPI:
    settings = settings or Settings()
    registry = registry or CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await app.state.runtime.start()
        try:
            yield
        finally:
            await app.state.runtime.stop()

    app = FastAPI(title="gameday classifier", version="1.0",
                  description="A numpy classifier with dynamic batching and model versions.",
                  lifespan=lifespan, max_body_size=MAX_BODY_BYTES)
    store = install_faults(app, service="classifier")
    install_telemetry(app, service="classifier", registry=registry)
    runtime = ClassifierRuntime(settings, store, registry)
    app.state.runtime = runtime
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(build_router(runtime))
    app.include_router(build_admin_router(runtime.deployment, app.state.require_admin_token))
    return app
