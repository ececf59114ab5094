"""Running one batch: the model on the simulated accelerator, with the classifier's faults.

Outcomes counted per row in ``model_predictions_total``: ``correct`` / ``incorrect`` when the
request carried the true label (a canary), ``unlabelled`` otherwise, ``error`` for a NaN
output or a failed batch. That is the online quality signal: a bad model shows there while
HTTP still says 200.

A NaN output is answered, not hidden: HTTP 200 with ``"class": -1``, ``"label": "invalid"``
and ``"probabilities": null`` (JSON has no NaN).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import numpy as np

from gameday.faults import FaultStore
from gameday_services.classifier.accelerator import Accelerator, AcceleratorError
from gameday_services.classifier.batcher import Pending
from gameday_services.classifier.deployment import Deployment
from gameday_services.classifier.metrics import ClassifierMetrics
from gameday_services.classifier.model import Classifier

log = logging.getLogger("services.classifier")
PREDICT_PATH = "/v1/predict"
INVALID_CLASS = -1
INVALID_LABEL = "invalid"


@dataclass(frozen=True)
class Prediction:
    cls: int
    label: str
    probabilities: list[float] | None  # None when the model output NaN


@dataclass(frozen=True)
class Answer:
    """What one request gets back: the version that served it and one prediction per row."""

    version: str
    predictions: list[Prediction]


def to_prediction(p: np.ndarray, labels: tuple[str, ...]) -> Prediction:
    if not np.all(np.isfinite(p)):
        return Prediction(INVALID_CLASS, INVALID_LABEL, None)
    cls = int(p.argmax())
    return Prediction(cls, labels[cls], [float(v) for v in p])


def outcome(pred: Prediction, truth: int | None) -> str:
    if pred.cls == INVALID_CLASS:
        return "error"
    if truth is None:
        return "unlabelled"
    return "correct" if pred.cls == truth else "incorrect"


def compute(model: Classifier, bad: Classifier | None, x: np.ndarray, seconds: float,
            xid: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The work on the device (in a worker thread): busy for ``seconds``, then the forward pass."""
    time.sleep(seconds)
    if xid is not None:
        raise AcceleratorError(xid)
    return model.predict_proba(x), (bad.predict_proba(x) if bad is not None else None)


class InferenceEngine:
    def __init__(self, deployment: Deployment, accelerator: Accelerator,
                 metrics: ClassifierMetrics, store: FaultStore,
                 rng: random.Random | None = None) -> None:
        self.deployment = deployment
        self.accelerator = accelerator
        self.metrics = metrics
        self.store = store
        self.rng = rng or random.Random()

    def _bad_modes(self, batch: list[Pending]) -> list[str | None]:
        fault = self.store.first("bad_model", PREDICT_PATH)
        if fault is None:
            return [None] * len(batch)
        return [fault.params["mode"] if fault.roll(self.rng) else None for _ in batch]

    async def run_batch(self, batch: list[Pending]) -> None:
        model, version = self.deployment.model, self.deployment.version
        if model is None:
            err = self.deployment.unavailable()
            for item in batch:
                _resolve(item, error=err)
            return
        modes = self._bad_modes(batch)
        bad = self.deployment.corrupted() if "degraded" in modes else None
        x = np.concatenate([item.rows for item in batch])
        rows = len(x)
        seconds = self.accelerator.compute_seconds(rows)
        xid = self.accelerator.failing_xid()
        self.accelerator.begin_batch(rows)
        start = time.perf_counter()
        try:
            probs, bad_probs = await asyncio.to_thread(compute, model, bad, x, seconds, xid)
        except Exception as err:
            if not isinstance(err, AcceleratorError):
                log.exception("inference failed", extra={"rows": rows, "version": version})
                err = RuntimeError("inference failed")
            self.metrics.count_prediction(version, "error", rows)
            for item in batch:
                _resolve(item, error=err)
            return
        finally:
            self.accelerator.end_batch()
            self.metrics.observe_batch(rows, time.perf_counter() - start)

        offset = 0
        for item, mode in zip(batch, modes, strict=True):
            p = probs[offset:offset + item.size]
            if mode == "degraded":
                p = bad_probs[offset:offset + item.size]
            elif mode == "nan":
                p = np.full_like(p, np.nan)
            offset += item.size
            preds = [to_prediction(row, model.labels) for row in p]
            for pred, truth in zip(preds, item.labels, strict=True):
                self.metrics.count_prediction(version, outcome(pred, truth))
            _resolve(item, result=Answer(version, preds))


def _resolve(item: Pending, result: Answer | None = None, error: Exception | None = None):
    if item.future.done():  # the client went away
        return
    if error is not None:
        item.future.set_exception(error)
    else:
        item.future.set_result(result)
