"""Public routes: health, readiness and prediction."""

from __future__ import annotations

import logging
import math

import numpy as np
from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gameday_services.classifier.accelerator import AcceleratorError
from gameday_services.classifier.batcher import QueueFull
from gameday_services.classifier.deployment import ModelUnavailable
from gameday_services.classifier.inference import Answer
from gameday_services.classifier.runtime import ClassifierRuntime
from gameday_services.classifier.schemas import ErrorBody, PredictRequest, PredictResponse
from gameday_services.common.errors import UNREADABLE_BODY

log = logging.getLogger("services.classifier")


def error(status: int, message: str, retry_after_s: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 like FastAPI's own, but never a 500 when the bad input was NaN or Infinity."""
    return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, status_code=422)


def render(answer: Answer) -> dict:
    return {
        "predictions": [{"class": p.cls, "label": p.label, "probabilities": p.probabilities}
                        for p in answer.predictions],
        "model": "classifier",
        "version": answer.version,
    }


def build_router(runtime: ClassifierRuntime) -> APIRouter:
    router = APIRouter()
    deployment, batcher, settings = runtime.deployment, runtime.batcher, runtime.settings

    @router.get("/healthz", summary="Liveness")
    def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: false while the model loads",
                responses={503: {"description": "not ready, with the reason"}})
    def readyz():
        if deployment.ready:
            return {"ready": True}
        return JSONResponse({"ready": False, "reason": deployment.reason}, status_code=503)

    @router.post(
        "/v1/predict", summary="Classify one feature vector or a batch",
        response_model=PredictResponse,
        responses={
            **UNREADABLE_BODY,
            422: {"description": "invalid input (wrong length, not numbers, batch too large)"},
            500: {"model": ErrorBody, "description": "the accelerator failed the batch"},
            503: {"model": ErrorBody, "description": "queue full or model loading; "
                  "see Retry-After"},
        },
    )
    async def predict(body: PredictRequest):
        rows = body.rows()
        if len(rows) > settings.max_batch_size:
            return JSONResponse({"detail": f"instances: {len(rows)} instances, more than "
                                 f"max_batch_size {settings.max_batch_size}"}, status_code=422)
        if not deployment.ready:
            err = deployment.unavailable()
            return error(503, f"model unavailable: {err.reason}", err.retry_after_s)
        try:
            future = batcher.submit(np.array(rows, dtype=np.float64), body.truth())
        except QueueFull as err:
            return error(503, str(err), settings.retry_after_s)
        try:
            answer = await future
        except ModelUnavailable as err:
            return error(503, f"model unavailable: {err.reason}", err.retry_after_s)
        except AcceleratorError as err:
            log.warning("batch failed on the accelerator", extra={"xid": err.xid})
            return error(500, str(err))
        except Exception as err:
            return error(500, str(err) or "inference failed")
        return render(answer)

    return router
