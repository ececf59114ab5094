"""Open a token stream on the llm and hand it on chunk by chunk, without buffering.

The upstream stream is opened (with retries, breaker and replicas like any call) and its
first chunk awaited within the TTFT timeout; only then does the client's response start,
so a slow or refusing llm can still be answered with a proper status. Closing the proxied
stream (end, error or client disconnect) closes the upstream response.

A :class:`TokenClock` times the token events on their way to the client (time to first
token, inter-token latency) and settles what became of the request, once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from time import perf_counter

import anyio
import httpx
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from gameday_services.gateway.calls import (
    UpstreamFailure,
    classify_transport_error,
    failure_from_response,
    release_nothing,
    take_slot,
)
from gameday_services.gateway.metrics import StreamMetrics
from gameday_services.gateway.policy import Policy
from gameday_services.gateway.state import Gateway
from gameday_services.gateway.upstreams import Replica

log = logging.getLogger("services.gateway")

STREAM_ERROR_EVENT = b'event: error\ndata: {"error": "upstream stream interrupted"}\n\n'
# The key of a token event (`data: {"token": " seven", "index": 0}`). A JSON string value
# cannot hold an unescaped quote, so these bytes only ever match the key.
TOKEN_KEY = b'"token":'


class TokenClock:
    """Times one generate request as its client sees it, from the moment the route took it.

    ``sent`` is called with every chunk just before it goes to the client: its first token
    event gives the time to first token, the next ones the inter-token latencies (a chunk
    carrying several tokens delivers them at once: 0 s between them). A request that ends
    with no token sent is settled ``failed`` (or ``refused`` for an llm 4xx); a cancelled
    request (server shutdown) is not counted.
    """

    __slots__ = ("metrics", "start", "last", "settled")

    def __init__(self, metrics: StreamMetrics) -> None:
        self.metrics = metrics
        self.start = perf_counter()
        self.last: float | None = None  # when the last token event was sent
        self.settled = False

    def sent(self, chunk: bytes) -> None:
        n = chunk.count(TOKEN_KEY)
        if not n:
            return
        now = perf_counter()
        metrics = self.metrics
        if self.last is None:
            if not self.settled:
                self.settled = True
                metrics.first_token(now - self.start)
        else:
            metrics.inter_token(now - self.last)
        for _ in range(n - 1):
            metrics.inter_token(0.0)
        self.last = now

    def settle(self, outcome: str = "failed") -> None:
        """The request ended with no token sent (a no-op once one was)."""
        if not self.settled:
            self.settled = True
            self.metrics.settle(outcome)


@dataclass
class OpenedStream:
    response: httpx.Response
    first: bytes
    rest: AsyncIterator[bytes]
    release: Callable[[], None]  # gives the pool slot back (calls.take_slot)

    async def chunks(self, clock: TokenClock) -> AsyncIterator[bytes]:
        if self.first:
            clock.sent(self.first)
            yield self.first
        try:
            async for chunk in self.rest:
                clock.sent(chunk)
                yield chunk
        except httpx.HTTPError as err:
            log.warning("llm stream interrupted", extra={"error": type(err).__name__})
            yield STREAM_ERROR_EVENT

    async def aclose(self) -> None:
        try:
            await self.response.aclose()
        finally:
            self.release()


@dataclass
class Refused:
    """A 4xx answer of the llm, handed on as it is."""

    status: int
    body: bytes
    media_type: str | None


async def open_generation(gw: Gateway, policy: Policy, body: dict,
                          headers: dict) -> OpenedStream | Refused:
    """The open llm stream with its first chunk; raises UpstreamFailure."""
    upstream = gw.llm
    t = policy.timeouts

    async def send(replica: Replica) -> OpenedStream | Refused:
        timeout = httpx.Timeout(t.llm_read_s, connect=t.llm_connect_s)
        request = upstream.client.build_request("POST", f"{replica.url}/v1/generate",
                                                json=body, headers=headers, timeout=timeout)
        deadline = asyncio.get_running_loop().time() + t.llm_ttft_s  # headers + first chunk
        # A pool slot first, under the deadline, as in calls.request_json: then httpx never
        # queues the request for a connection, where a cancelled wait leaks a slot of its
        # pool for good (encode/httpcore#1093). The stream holds its slot until it closes.
        release = release_nothing
        try:
            async with asyncio.timeout_at(deadline):
                release = await take_slot(upstream.slots)
                response = await upstream.client.send(request, stream=True)
        except BaseException as err:
            release()
            if isinstance(err, TimeoutError | httpx.TransportError):
                raise classify_transport_error(err) from None
            raise
        try:
            failure = failure_from_response(response.status_code,
                                            response.headers.get("retry-after"))
            if failure is not None:
                raise failure
            if response.status_code != 200:
                content = await response.aread()  # read to the end: the connection is back
                release()
                return Refused(response.status_code, content,
                               response.headers.get("content-type"))
            rest = response.aiter_bytes()
            try:
                async with asyncio.timeout_at(deadline):
                    first = await anext(rest, b"")
            except (TimeoutError, httpx.TransportError) as err:
                raise classify_transport_error(err) from None
            return OpenedStream(response, first, rest, release)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await response.aclose()
            release()
            raise

    return await upstream.call(policy, send)


class ProxyStreamingResponse(StreamingResponse):
    """A StreamingResponse that always runs its clean-up, however the stream ends."""

    def __init__(self, content: AsyncIterator[bytes], on_close, **kwargs) -> None:
        super().__init__(content, **kwargs)
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self.body_iterator, "aclose", None)
                if aclose is not None:
                    await aclose()
                for callback in self.on_close:
                    result = callback()
                    if asyncio.iscoroutine(result):
                        await result


def upstream_body(request: dict) -> dict:
    """The llm request: the client's fields that are set, always streamed."""
    body = {k: v for k, v in request.items() if v is not None and k != "stream"}
    body["stream"] = True
    return body


def failure_body(failure: UpstreamFailure) -> bytes:
    return json.dumps({"detail": f"llm unavailable: {failure.describe()}",
                       "reason": failure.kind, "upstream": "llm"}).encode()
