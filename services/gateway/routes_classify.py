"""POST /v1/classify: features from the store, a prediction from a classifier replica."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gameday.telemetry import REQUEST_ID_HEADER, request_id_var
from gameday_services.common.errors import UNREADABLE_BODY
from gameday_services.gateway.classify import (
    InvalidRequest,
    Unavailable,
    UnknownEntity,
    run_classify,
)
from gameday_services.gateway.metrics import answer_kind
from gameday_services.gateway.responses import unavailable_response
from gameday_services.gateway.schemas import ClassifyRequest, ClassifyResponse, ErrorBody
from gameday_services.gateway.state import Gateway

router = APIRouter(tags=["inference"])


def forward_headers() -> dict:
    """Headers every upstream call carries: the request id."""
    rid = request_id_var.get()
    return {REQUEST_ID_HEADER: rid} if rid else {}


@router.post(
    "/v1/classify", response_model=ClassifyResponse, response_model_by_alias=True,
    summary="Classify an entity from its stored features",
    responses={**UNREADABLE_BODY,
               404: {"model": ErrorBody, "description": "Unknown entity"},
               422: {"description": "Invalid input (for example a label out of range)"},
               429: {"model": ErrorBody, "description": "Shed: too many requests in flight"},
               502: {"model": ErrorBody}, 503: {"model": ErrorBody}, 504: {"model": ErrorBody}},
)
async def classify(body: ClassifyRequest, request: Request):
    # Admitted already: services/gateway/shedding.py sheds before routing and parsing.
    gw: Gateway = request.app.state.gateway
    admission = gw.policy.admission
    try:
        prediction, reasons = await run_classify(gw, body.entity_id, body.label,
                                                 forward_headers())
    except UnknownEntity:
        return JSONResponse(status_code=404,
                            content={"detail": f"unknown entity {body.entity_id!r}",
                                     "reason": "unknown_entity", "upstream": "features"})
    except InvalidRequest as err:
        return JSONResponse(status_code=422,
                            content={"detail": err.detail, "reason": "invalid_request",
                                     "upstream": "classifier"})
    except Unavailable as err:
        gw.metrics.classify_answers.labels("error").inc()
        return unavailable_response(err.failure, admission)
    except Exception:  # answered with a 500 by the telemetry layer: nobody answered
        gw.metrics.classify_answers.labels("error").inc()
        raise
    gw.metrics.classify_answers.labels(answer_kind(reasons)).inc()
    return {
        "entity_id": body.entity_id,
        "class": prediction.cls,
        "label": prediction.label,
        "probabilities": prediction.probabilities,
        "model_version": prediction.model_version,
        "degraded": bool(reasons),
        "degraded_reasons": reasons,
        "replica": prediction.replica,
    }
