"""POST /v1/generate: the llm's token stream, proxied chunk by chunk (text/event-stream)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from services.common.errors import UNREADABLE_BODY
from services.gateway.admission import shed_response
from services.gateway.calls import UpstreamFailure
from services.gateway.generate import (
    ProxyStreamingResponse,
    Refused,
    open_generation,
    upstream_body,
)
from services.gateway.responses import unavailable_response
from services.gateway.routes_classify import forward_headers
from services.gateway.schemas import ErrorBody, GenerateRequest
from services.gateway.state import Gateway

router = APIRouter(tags=["inference"])


@router.post(
    "/v1/generate", summary="Generate text, streamed token by token as server-sent events",
    response_class=StreamingResponse,
    responses={**UNREADABLE_BODY,
               200: {"content": {"text/event-stream": {}},
                     "description": "`data: {...}` lines as the llm sends them"},
               429: {"model": ErrorBody}, 502: {"model": ErrorBody},
               503: {"model": ErrorBody, "description": "llm queue full (Retry-After)"},
               504: {"model": ErrorBody, "description": "no first token in time"}},
)
async def generate(body: GenerateRequest, request: Request):
    gw: Gateway = request.app.state.gateway
    policy = gw.policy
    if not gw.admission.try_enter(policy.admission):
        gw.metrics.shed.labels("max_in_flight").inc()
        return shed_response(policy.admission, "max_in_flight")
    handed_over = False
    try:
        opened = await open_generation(gw, policy, upstream_body(body.model_dump()),
                                       forward_headers())
        if isinstance(opened, Refused):
            return Response(opened.body, status_code=opened.status, media_type=opened.media_type)
        handed_over = True
        return ProxyStreamingResponse(
            opened.chunks(), on_close=[opened.aclose, gw.admission.leave],
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    except UpstreamFailure as failure:
        return unavailable_response(failure, policy.admission)
    finally:
        if not handed_over:
            gw.admission.leave()
