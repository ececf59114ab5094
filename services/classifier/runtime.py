"""The classifier's moving parts, built from the settings, and their background tasks.

Background tasks (started in the app's lifespan): the cold-start load, the batcher, the
accelerator clock, and a watcher that reloads the model when a ``slow_model_load`` fault
arrives (slowly: ``load_s`` seconds, never past the fault's TTL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from prometheus_client import CollectorRegistry

from gameday.faults import Fault, FaultStore
from gameday_services.classifier.accelerator import Accelerator
from gameday_services.classifier.batcher import Batcher
from gameday_services.classifier.deployment import Deployment, ModelUnavailable
from gameday_services.classifier.inference import InferenceEngine
from gameday_services.classifier.metrics import ClassifierMetrics
from gameday_services.classifier.model import ModelRepository
from gameday_services.classifier.settings import Settings

log = logging.getLogger("services.classifier")
WATCH_INTERVAL_S = 0.1


class ClassifierRuntime:
    def __init__(self, settings: Settings, store: FaultStore, registry: CollectorRegistry,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.store = store
        self.repository = ModelRepository(settings.models_dir)
        self.repository.validate_version(settings.model_version, "CLASSIFIER_MODEL_VERSION")
        self.metrics = ClassifierMetrics(registry, self.repository.versions())
        self.accelerator = Accelerator(settings, self.metrics, store, rng=rng)
        self.deployment = Deployment(self.repository, self.metrics, self.accelerator,
                                     settings.model_memory_bytes)
        self.engine = InferenceEngine(self.deployment, self.accelerator, self.metrics, store,
                                      rng=rng)
        self.batcher = Batcher(self.engine.run_batch, settings.max_batch_size,
                               settings.max_queue_delay_ms / 1000.0, settings.max_queue_size)
        self.metrics.track_queue_depth(self.batcher.depth)
        self.accelerator.queued_rows = self.batcher.queued_rows
        self._tasks: list[asyncio.Task] = []
        self._seen_reloads: set[str] = set()

    async def start(self) -> None:
        version = self.settings.model_version
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.deployment.load(version, self.settings.load_time_s,
                                                  f"loading model {version} (cold start)")),
            loop.create_task(self.batcher.run()),
            loop.create_task(self.accelerator.run()),
            loop.create_task(self.watch_faults()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self.batcher.fail_pending(ModelUnavailable("shutting down", 1))

    # -- the slow_model_load fault ----------------------------------------------------------
    async def watch_faults(self) -> None:
        while True:
            try:
                fault = self.store.first("slow_model_load")
                if fault is not None and self.deployment.ready and \
                        fault.id not in self._seen_reloads:
                    self._seen_reloads.add(fault.id)
                    if fault.roll():
                        await self.slow_reload(fault)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep watching whatever happens
                log.exception("fault watcher failed")
            await asyncio.sleep(WATCH_INTERVAL_S)

    async def slow_reload(self, fault: Fault) -> None:
        """Reload the live version, taking load_s seconds, or until the fault is gone."""
        version = self.deployment.version
        seconds = min(fault.params["load_s"], fault.remaining_s())
        log.warning("reloading model", extra={"version": version, "load_s": round(seconds, 3)})

        def fault_active() -> bool:
            return any(f.id == fault.id for f in self.store.active("slow_model_load"))

        await self.deployment.load(version, seconds, f"reloading model {version}",
                                   keep_waiting=fault_active)
        log.info("model reloaded", extra={"version": version})
