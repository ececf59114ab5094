"""POST /v1/generate: the llm's token stream, proxied chunk by chunk (text/event-stream)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from gameday_services.common.errors import UNREADABLE_BODY
from gameday_services.gateway.calls import UpstreamFailure
from gameday_services.gateway.generate import (
    ProxyStreamingResponse,
    Refused,
    TokenClock,
    open_generation,
    upstream_body,
)
from gameday_services.gateway.responses import unavailable_response
from gameday_services.gateway.routes_classify import forward_headers
from gameday_services.gateway.schemas import ErrorBody, GenerateRequest
from gameday_services.gateway.state import Gateway

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
    # Admitted already (services/gateway/shedding.py): the request leaves admission when
    # this ASGI call returns, that is when the proxied stream has ended.
    # Timed from here to each token event sent (gateway_time_to_first_token_seconds): what
    # the client waits, the upstream's retries and queue included.
    gw: Gateway = request.app.state.gateway
    clock = TokenClock(gw.metrics.streams)
    policy = gw.policy
    try:
        opened = await open_generation(gw, policy, upstream_body(body.model_dump()),
                                       forward_headers())
    except UpstreamFailure as failure:
        clock.settle("failed")
        return unavailable_response(failure, policy.admission)
    except Exception:  # answered 500: no token either
        clock.settle("failed")
        raise
    if isinstance(opened, Refused):
        clock.settle("refused")
        return Response(opened.body, status_code=opened.status, media_type=opened.media_type)
    # However the stream ends, a request that sent no token is settled failed.
    return ProxyStreamingResponse(
        opened.chunks(clock), on_close=[opened.aclose, clock.settle],
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
