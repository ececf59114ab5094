"""Start and stop: run the engine, train the model in the background, report readiness."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import asynccontextmanager

from gameday_services.common.health import Readiness
from gameday_services.llm.metrics import LlmMetrics
from gameday_services.llm.model import MODEL_NAME, train_from_corpus
from gameday_services.llm.scheduler import Engine
from gameday_services.llm.settings import Settings

log = logging.getLogger("services.llm")


async def load_model(engine: Engine, settings: Settings, metrics: LlmMetrics,
                     readiness: Readiness) -> None:
    await asyncio.sleep(settings.load_time_s)
    start = time.perf_counter()
    try:
        model = await asyncio.to_thread(train_from_corpus, settings.corpus_dir)
    except Exception as err:
        readiness.reason = f"model failed to load: {err}"
        log.exception("training the language model failed")
        return
    engine.model = model
    metrics.model_info.labels(MODEL_NAME, model.version).set(1)
    readiness.ready, readiness.reason = True, ""
    log.info("language model ready", extra={
        "model": MODEL_NAME, "version": model.version, "vocab_size": model.vocab_size,
        "seconds": round(time.perf_counter() - start, 3)})


def build_lifespan(engine: Engine, settings: Settings, metrics: LlmMetrics,
                   readiness: Readiness):
    @asynccontextmanager
    async def lifespan(app):
        engine.start()
        loader = asyncio.create_task(load_model(engine, settings, metrics, readiness))
        try:
            yield
        finally:
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loader
            await engine.stop()

    return lifespan
