"""Load shedding as an ASGI layer: admission is decided before routing and body parsing.

A refused request costs what the server's HTTP parser and the telemetry layer cost, and a
pre-encoded answer: under overload most requests are refused, and each refusal that went
through routing and JSON validation of its body took CPU from the requests being served
(bench/README.md, target 3).

The layer sits inside the telemetry layer (``app.user_middleware``, not
``app.add_middleware``), so shed requests are counted in ``http_requests_total`` under
their route and get their ``x-request-id``. An admitted request leaves when its ASGI call
returns: for a stream, when the stream ended, failed or the client went away.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache

from services.gateway.metrics import SHED_REASONS
from services.gateway.state import Gateway

# The admitted routes, and whether the adaptive limit applies to each (it learns from
# classify latencies; a stream's duration is the llm's generation time, not queueing).
GUARDED = {"/v1/classify": True, "/v1/generate": False}


@lru_cache(maxsize=32)
def shed_answer(status: int, retry_after_s: int, reason: str) -> tuple[list, bytes]:
    """Headers and body of the answer to a request the gateway will not serve now."""
    body = json.dumps({"detail": f"gateway overloaded ({reason}), retry later",
                       "reason": reason}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               (b"retry-after", str(retry_after_s).encode())]
    return headers, body


class SheddingMiddleware:
    """Admits POST /v1/classify and /v1/generate within the admission policy, or sheds."""

    def __init__(self, app, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway
        self.clock = time.perf_counter
        self.shed = {reason: gateway.metrics.shed.labels(reason) for reason in SHED_REASONS}

    async def __call__(self, scope, receive, send):
        adaptive = GUARDED.get(scope["path"]) if scope["type"] == "http" else None
        if adaptive is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        gw = self.gateway
        policy = gw.policy.admission
        admission = gw.admission
        if not admission.try_enter(policy):
            await self.refuse(send, policy, "max_in_flight", scope["path"])
            return
        limit = admission.limit if adaptive and policy.adaptive_limit else None
        if limit is not None and not limit.try_enter(policy):
            admission.leave()
            await self.refuse(send, policy, "adaptive_limit", scope["path"])
            return
        start = self.clock()
        try:
            await self.app(scope, receive, send)
        finally:
            admission.leave()
            if limit is not None:
                limit.leave(gw.policy.admission, self.clock() - start)

    async def refuse(self, send, policy, reason: str, path: str = "") -> None:
        self.shed[reason].inc()
        if path == "/v1/classify" and policy.shed_status >= 500:  # a 429 is the client's
            self.gateway.metrics.classify_answers.labels("error").inc()
        elif path == "/v1/generate" and policy.shed_status >= 500:  # no token: not fast
            self.gateway.metrics.streams.settle("failed")
        headers, body = shed_answer(policy.shed_status, policy.retry_after_s, reason)
        await send({"type": "http.response.start", "status": policy.shed_status,
                    "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})
