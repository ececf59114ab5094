"""Load shedding as an ASGI layer: admission is decided before routing and body parsing,
once the request's body has arrived.

A refused request costs what the server's HTTP parser and the telemetry layer cost, and a
pre-encoded answer: under overload most requests are refused, and each refusal that went
through routing and JSON validation of its body took CPU from the requests being served
(bench/README.md, target 3). When the gateway is already full (``max_in_flight``, or the
adaptive limit on /v1/classify), a request is refused before its body is read.

A request counts against ``max_in_flight`` only once its whole body is here: the layer reads
it first (at most ``MAX_BODY_BYTES``, within the ``body_timeout_s`` setting), then admits,
then hands the app the body it read. A client that sends its body slowly (a byte a second)
holds no slot while it does, and one that takes longer than ``body_timeout_s`` is answered
408 and its connection closed; a body over the limit is answered 413. Neither is parsed.

The layer sits right inside the telemetry layer and outside FastAPI's own layers
(``install_telemetry(..., inner=...)`` in app.py), so shed requests are counted in
``http_requests_total`` under their route and get their ``x-request-id``, and a refusal
passes through no framework layer. An admitted request leaves when its ASGI call
returns: for a stream, when the stream ended, failed or the client went away.
"""

from __future__ import annotations

import asyncio
import json
import time
from functools import lru_cache

from gameday_services.common.limits import MAX_BODY_BYTES
from gameday_services.gateway.limiter import CURRENT, Outcome
from gameday_services.gateway.metrics import SHED_REASONS
from gameday_services.gateway.state import Gateway

# The admitted routes, and whether the adaptive limit applies to each (it learns from
# classify latencies; a stream's duration is the llm's generation time, not queueing).
GUARDED = {"/v1/classify": True, "/v1/generate": False}
OVER_LIMIT = f"request body over {MAX_BODY_BYTES} bytes"  # the 413's detail
# Scope key set by the gateway's HTTP protocol (early.py) when it already asked
# ``Shedder.reason_before_body`` for this request and was told to read the body.
CHECKED_UNREAD = "gameday.checked_unread"


@lru_cache(maxsize=32)
def shed_answer(status: int, retry_after_s: int, reason: str) -> tuple[list, bytes]:
    """Headers and body of the answer to a request the gateway will not serve now."""
    body = json.dumps({"detail": f"gateway overloaded ({reason}), retry later",
                       "reason": reason}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               (b"retry-after", str(retry_after_s).encode())]
    return headers, body


@lru_cache(maxsize=8)
def body_refusal(status: int, detail: str) -> tuple[list, bytes]:
    """Headers and body of the answer to a body that came too slowly or is too large; the
    connection is closed after it (the rest of the body is not waited for)."""
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    return headers, body


def declared_over(headers) -> bool:
    """The request's Content-Length says more than ``MAX_BODY_BYTES`` (the server has
    already answered 400 to a malformed or repeated one)."""
    for name, value in headers:
        if name == b"content-length":
            return value.isdigit() and int(value) > MAX_BODY_BYTES
    return False


def replaying(message: dict, receive):
    """A receive that gives the app the body read before, then the server's own messages
    (a streaming answer listens there for the client going away)."""
    pending = [message]

    async def replay():
        if pending:
            return pending.pop()
        return await receive()

    return replay


class Shedder:
    """The refusal of a request the gateway will not serve now, decided and counted in one
    place for both the paths that refuse: this ASGI layer, and the gateway's HTTP protocol,
    which refuses a request from its head alone without starting an ASGI task for it
    (services/gateway/early.py)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.shed = {reason: gateway.metrics.shed.labels(reason) for reason in SHED_REASONS}

    def reason_before_body(self, adaptive: bool) -> str | None:
        """Why a POST to a guarded route is refused unread (None: read its body), from the
        policy as it is now: the gateway is full, or the adaptive limit (on classify) is."""
        gw = self.gateway
        policy = gw.policy.admission
        if gw.admission.is_full(policy):
            return "max_in_flight"
        if adaptive and policy.adaptive_limit and (gw.admission.limit.is_full(policy)
                                                   or gw.loop_lag.should_shed(policy)):
            return "adaptive_limit"
        return None

    def count(self, policy, reason: str, path: str) -> tuple[list, bytes]:
        """Count one refusal; the answer's headers and body."""
        self.shed[reason].inc()
        if path == "/v1/classify" and policy.shed_status >= 500:  # a 429 is the client's
            self.gateway.metrics.classify_answers.labels("error").inc()
        elif path == "/v1/generate" and policy.shed_status >= 500:  # no token: not fast
            self.gateway.metrics.streams.settle("failed")
        return shed_answer(policy.shed_status, policy.retry_after_s, reason)


class SheddingMiddleware:
    """Admits POST /v1/classify and /v1/generate within the admission policy, or sheds."""

    def __init__(self, app, shedder: Shedder) -> None:
        self.app = app
        self.shedder = shedder
        self.gateway = gateway = shedder.gateway
        self.clock = time.perf_counter
        self.body_timeout_s = gateway.settings.body_timeout_s

    async def __call__(self, scope, receive, send):
        adaptive = GUARDED.get(scope["path"]) if scope["type"] == "http" else None
        if adaptive is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        gw = self.gateway
        admission = gw.admission
        reason = None if scope.get(CHECKED_UNREAD) else self.shedder.reason_before_body(adaptive)
        if reason is not None:  # refused unread: the cheap path
            await self.refuse(send, gw.policy.admission, reason, scope["path"])
            return
        if declared_over(scope["headers"]):  # no use waiting for a body we would refuse
            await self.answer(send, 413, OVER_LIMIT)
            return
        message = await self.read_body(receive, send)
        if message is None:  # answered 408/413, or the client went away
            return
        policy = gw.policy.admission  # as it is now: the body may have taken a while
        if not admission.try_enter(policy):
            await self.refuse(send, policy, "max_in_flight", scope["path"])
            return
        limit = admission.limit if adaptive and policy.adaptive_limit else None
        if limit is not None and not limit.try_enter(policy):
            admission.leave()
            await self.refuse(send, policy, "adaptive_limit", scope["path"])
            return
        start = self.clock()
        # what the adaptive limit learns besides latency, filled in by the upstream calls
        # (limiter.note_*); nothing to fill in with the limit off
        outcome = Outcome() if limit is not None else None
        token = CURRENT.set(outcome) if outcome is not None else None
        try:
            await self.app(scope, replaying(message, receive), send)
        finally:
            if token is not None:
                CURRENT.reset(token)
            admission.leave()
            if limit is not None:
                limit.leave(gw.policy.admission, self.clock() - start, outcome)

    async def read_body(self, receive, send) -> dict | None:
        """The whole body as one ``http.request`` message; None when the client went away
        or the body was refused (answered here: 408 past the timeout, 413 over the limit)."""
        try:
            async with asyncio.timeout(self.body_timeout_s):
                message = await receive()
                if not message.get("more_body", False):  # the usual case: one message
                    if message["type"] != "http.request":
                        return None
                    if len(message.get("body", b"")) <= MAX_BODY_BYTES:
                        return message
                    await self.answer(send, 413, OVER_LIMIT)
                    return None
                chunks, size = [], 0
                while True:
                    if message["type"] != "http.request":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        await self.answer(send, 413, OVER_LIMIT)
                        return None
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
                    message = await receive()
        except TimeoutError:
            await self.answer(send, 408, "request body not received within "
                              f"{self.body_timeout_s:g} s")
            return None
        return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def answer(self, send, status: int, detail: str) -> None:
        headers, body = body_refusal(status, detail)
        await send({"type": "http.response.start", "status": status,
                    "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})

    async def refuse(self, send, policy, reason: str, path: str = "") -> None:
        headers, body = self.shedder.count(policy, reason, path)
        await send({"type": "http.response.start", "status": policy.shed_status,
                    "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})
