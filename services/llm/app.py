"""Wiring of the llm app: faults, telemetry, error handlers, engine, routes."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from gameday.faults import install_faults
from gameday.telemetry import install_telemetry
from gameday_services.common.errors import install_error_handlers
from gameday_services.common.limits import MAX_BODY_BYTES
from gameday_services.llm.lifecycle import Readiness, build_lifespan
from gameday_services.llm.metrics import LlmMetrics
from gameday_services.llm.pressure import lost_slots
from gameday_services.llm.routes import api, health
from gameday_services.llm.scheduler import Engine, EngineConfig
from gameday_services.llm.settings import Settings


def create_app(settings: Settings | None = None,
               registry: CollectorRegistry | None = None) -> FastAPI:
    settings = settings or Settings()
    registry = registry if registry is not None else CollectorRegistry()
    metrics = LlmMetrics(registry)
    readiness = Readiness(reason="loading: training the language model")
    engine = Engine(
        EngineConfig(kv_slots=settings.kv_slots, max_waiting=settings.max_waiting,
                     token_ms=settings.token_ms, batch_slowdown=settings.batch_slowdown,
                     prefill_ms=settings.prefill_ms,
                     prefill_ms_per_token=settings.prefill_ms_per_token),
        metrics,
    )

    app = FastAPI(
        title="gameday llm",
        description="A word-level trigram language model streaming tokens behind a "
                    "vLLM-like scheduler (KV-cache slots, waiting queue, preemption).",
        version="1.0.0",
        lifespan=build_lifespan(engine, settings, metrics, readiness),
        max_body_size=MAX_BODY_BYTES,
    )
    faults = install_faults(app, service="llm")
    install_telemetry(app, service="llm", registry=registry)
    install_error_handlers(app)
    engine.lost_slots = lambda: lost_slots(faults, settings.kv_slots)
    app.state.settings = settings
    app.state.readiness = readiness
    app.state.engine = engine
    app.state.llm_metrics = metrics
    app.include_router(health)
    app.include_router(api)
    return app
