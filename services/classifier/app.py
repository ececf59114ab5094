"""The classifier's FastAPI app: wiring only."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry

from gameday.faults import install_faults
from gameday.telemetry import install_telemetry
from services.classifier.admin import build_admin_router
from services.classifier.routes import build_router, validation_error
from services.classifier.runtime import ClassifierRuntime
from services.classifier.settings import Settings


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
                  lifespan=lifespan)
    store = install_faults(app, service="classifier")
    install_telemetry(app, service="classifier", registry=registry)
    runtime = ClassifierRuntime(settings, store, registry)
    app.state.runtime = runtime
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(build_router(runtime))
    app.include_router(build_admin_router(runtime.deployment, app.state.require_admin_token))
    return app
