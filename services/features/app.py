"""Wiring of the feature store app: faults, telemetry, error handlers, routes."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from gameday.faults import install_faults
from gameday.telemetry import install_telemetry
from gameday_services.common.errors import install_error_handlers
from gameday_services.common.limits import MAX_BODY_BYTES
from gameday_services.features.lifecycle import Readiness, build_lifespan
from gameday_services.features.lookups import FeatureLookup
from gameday_services.features.metrics import FeatureMetrics
from gameday_services.features.routes import api, health
from gameday_services.features.settings import Settings
from gameday_services.features.store import FeatureStore, check_db_path


def create_app(settings: Settings | None = None,
               registry: CollectorRegistry | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.db_path:  # refuse at once a file that is not ours (seeding checks again)
        check_db_path(settings.db_path, settings.db_force)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = FeatureMetrics(registry)
    store = FeatureStore(pool_size=settings.pool_size, drift_ratio=settings.drift_ratio,
                         drift_period_s=settings.drift_period_s, force=settings.db_force)
    readiness = Readiness(reason="loading: seeding the feature store")

    app = FastAPI(
        title="gameday feature store",
        description="Per-entity feature vectors and labels served from SQLite.",
        version="1.0.0",
        lifespan=build_lifespan(store, settings, metrics, readiness),
        max_body_size=MAX_BODY_BYTES,
    )
    faults = install_faults(app, service="features")
    install_telemetry(app, service="features", registry=registry)
    install_error_handlers(app)
    app.state.settings = settings
    app.state.readiness = readiness
    app.state.lookup = FeatureLookup(store, metrics, faults)
    app.state.feature_metrics = metrics
    app.include_router(health)
    app.include_router(api)
    return app
