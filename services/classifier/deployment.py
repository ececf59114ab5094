"""Which model version is live, loading it, deploying another one and rolling back.

While a model loads (cold start, or a slow reload) the replica is not ready: /readyz says
why and predictions are refused with 503 + Retry-After. Deploy and rollback swap versions
at once, between two batches; the previous versions are kept for rollback.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from gameday.errors import GamedayError
from gameday_services.classifier.accelerator import Accelerator
from gameday_services.classifier.metrics import ClassifierMetrics
from gameday_services.classifier.model import Classifier, ModelRepository, corrupt


class ModelUnavailable(GamedayError):
    """No model is loaded right now."""

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class DeploymentConflict(GamedayError):
    """A deploy or rollback that cannot happen in the current state."""


class Deployment:
    def __init__(self, repository: ModelRepository, metrics: ClassifierMetrics,
                 accelerator: Accelerator, model_memory_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.repository = repository
        self.metrics = metrics
        self.accelerator = accelerator
        self.model_memory_bytes = model_memory_bytes
        self.clock = clock
        self.model: Classifier | None = None
        self.version: str | None = None
        self.history: list[str] = []  # earlier live versions, most recent last
        self.reason: str | None = "starting"
        self._loading_until: float | None = None
        self._corrupted: Classifier | None = None

    # -- state --------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.model is not None and self.reason is None

    def retry_after_s(self) -> int:
        left = (self._loading_until or 0.0) - self.clock()
        return max(1, math.ceil(left))

    def unavailable(self) -> ModelUnavailable:
        return ModelUnavailable(self.reason or "model not loaded", self.retry_after_s())

    def corrupted(self) -> Classifier:
        """The live model with damaged weights (the bad_model fault, mode degraded)."""
        if self._corrupted is None or self._corrupted.version != self.version:
            self._corrupted = corrupt(self.model)
        return self._corrupted

    def describe(self) -> dict:
        return {
            "model": "classifier",
            "version": self.version,
            "available": self.repository.versions(),
            "previous": self.history[-1] if self.history else None,
            "ready": self.ready,
            "reason": self.reason,
        }

    # -- loading ------------------------------------------------------------------------
    async def load(self, version: str, seconds: float, reason: str,
                   keep_waiting: Callable[[], bool] = lambda: True) -> None:
        """Unload, wait ``seconds`` (or until ``keep_waiting()`` turns false), load ``version``."""
        self.model = None
        self.reason = reason
        self.accelerator.model_bytes = 0
        self._loading_until = self.clock() + seconds
        try:
            while self.clock() < self._loading_until and keep_waiting():
                await asyncio.sleep(min(0.05, max(0.0, self._loading_until - self.clock())))
            model = await asyncio.to_thread(self.repository.load, version)
        except BaseException:
            self.reason = f"loading model {version} failed"
            raise
        self._go_live(model)

    def _go_live(self, model: Classifier) -> None:
        self.model = model
        self.version = model.version
        self.reason = None
        self._loading_until = None
        self.accelerator.model_bytes = self.model_memory_bytes
        self.metrics.set_live_version(self.version, self.repository.versions())

    # -- deploy / roll back ------------------------------------------------------------
    def _check_not_loading(self, action: str) -> None:
        if not self.ready:
            raise DeploymentConflict(f"cannot {action} while the model is loading "
                                     f"({self.reason}); retry when /readyz is ready")

    def deploy(self, version: str) -> dict:
        """Serve ``version`` from the next batch on (validated before anything changes)."""
        self.repository.validate_version(version)
        self._check_not_loading("deploy")
        previous = self.version
        if version != previous:
            model = self.repository.load(version)
            self.history.append(previous)
            self._go_live(model)
        return {"model": "classifier", "version": self.version, "previous": previous}

    def rollback(self) -> dict:
        """Serve the version that was live before the last deploy."""
        self._check_not_loading("roll back")
        if not self.history:
            raise DeploymentConflict(f"nothing to roll back to: {self.version} is the first "
                                     "version this replica served")
        previous = self.version
        self._go_live(self.repository.load(self.history.pop()))
        return {"model": "classifier", "version": self.version, "previous": previous}
