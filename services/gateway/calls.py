"""One upstream and how the gateway calls it: attempts, retries, breaker, throttle, replicas.

``Upstream.call(policy, send)`` runs ``send(replica)`` up to ``retry.max_attempts`` times:
each attempt may be throttled locally, needs a circuit-breaker permit, goes to a replica
picked by the pool (a retry prefers a replica not tried yet) and is recorded in metrics,
breaker, throttle and outlier detection. A retry needs a retryable failure and budget.
``send`` raises ``UpstreamFailure`` for a failed attempt and returns anything else.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from gameday_services.gateway.admission import AdaptiveThrottle
from gameday_services.gateway.breaker import CircuitBreaker
from gameday_services.gateway.limiter import note_shed_upstream
from gameday_services.gateway.lograte import LogRate
from gameday_services.gateway.metrics import GatewayMetrics
from gameday_services.gateway.policy import Policy
from gameday_services.gateway.retry import (
    RetryBudget,
    backoff_delay,
    is_retryable,
    parse_retry_after,
)
from gameday_services.gateway.upstreams import Replica, ReplicaPool
from gameday_services.gateway.window import Clock
from gameday_services.gateway.wire import Answer, WireClient, WireError

log = logging.getLogger("services.gateway")
FAILURE_LOGS = LogRate()  # a line per upstream and failure kind a second
T = TypeVar("T")

# Failure kinds: timeout, connect_error, error (an upstream answer that is not usable)
# are attempts sent; circuit_open, throttled and no_replica are attempts never sent.
NOT_SENT = ("circuit_open", "throttled", "no_replica")
SHED_STATUSES = (429, 503)  # an upstream refusing work: overloaded, or not ready


class UpstreamFailure(Exception):
    def __init__(self, kind: str, status: int | None = None, retry_after: float | None = None,
                 detail: str = "", upstream: str = "", upstream_healthy: bool = False) -> None:
        self.kind = kind
        # True for a 4xx answer: the upstream works, the call was wrong; breaker and
        # outlier detection count it as a success.
        self.upstream_healthy = upstream_healthy
        self.status = status
        self.retry_after = retry_after
        self.detail = detail
        self.upstream = upstream
        super().__init__(self.describe())

    @property
    def retryable(self) -> bool:
        return is_retryable(self.kind, self.status)

    def describe(self) -> str:
        text = self.kind.replace("_", " ")
        if self.status is not None:
            text += f" (HTTP {self.status})"
        return f"{text}: {self.detail}" if self.detail else text


def classify_transport_error(err: Exception) -> UpstreamFailure:
    if isinstance(err, TimeoutError | httpx.TimeoutException):
        return UpstreamFailure("timeout", detail="no answer in time")
    return UpstreamFailure("connect_error", detail=type(err).__name__)


def failure_from_response(status: int, retry_after: str | None) -> UpstreamFailure | None:
    """A failure for a 5xx or 429 answer, carrying its Retry-After; None otherwise."""
    if status < 500 and status != 429:
        return None
    return UpstreamFailure("error", status=status, retry_after=parse_retry_after(retry_after))


def release_nothing() -> None:
    return None


async def take_slot(slots: asyncio.Semaphore | None) -> Callable[[], None]:
    """Wait for one of ``slots`` (the caller holds its deadline); the function that gives it
    back, safe to call more than once. With no slots, nothing to wait for or give back."""
    if slots is None:
        return release_nothing
    await slots.acquire()
    held = True

    def release() -> None:
        nonlocal held
        if held:
            held = False
            slots.release()
    return release


async def request_json(client: WireClient | httpx.AsyncClient, method: str, url: str, *,
                       timeout_s: float, connect_s: float, headers: dict, json: Any = None,
                       slots: asyncio.Semaphore | None = None) -> tuple[int, Any]:
    """``(status, parsed JSON or None)`` for a non-5xx answer; raises UpstreamFailure.

    ``client``: the upstream's ``WireClient`` (services/gateway/wire.py), or an httpx client
    over transports a test mounted in process. ``slots``: one per connection of the
    client's pool; a call waits for a slot (under its deadline) first and gives it back when
    the call has ended."""
    if isinstance(client, WireClient):
        status, answer = await _wire_call(client, method, url, timeout_s, connect_s,
                                          headers, json, slots)
    else:
        resp = await _httpx_call(client, method, url, timeout_s, connect_s, headers, json,
                                 slots)
        status, answer = resp.status_code, resp
    failure = failure_from_response(status, answer.headers.get("retry-after"))
    if failure is not None:
        raise failure
    try:
        return status, answer.json()
    except ValueError:
        return status, None


async def _wire_call(client: WireClient, method: str, url: str, timeout_s: float,
                     connect_s: float, headers: dict, json: Any,
                     slots: asyncio.Semaphore | None) -> tuple[int, Answer]:
    """One call on the gateway's own client: a slot under the deadline, then the call in
    what is left of it. Giving up (the deadline, a cancellation) closes the connection."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        async with asyncio.timeout_at(deadline):
            release = await take_slot(slots)
    except TimeoutError:
        raise UpstreamFailure("timeout", detail="no answer in time") from None
    try:
        answer = await client.request(method, url, timeout_s=max(0.0, deadline - loop.time()),
                                      connect_s=connect_s, headers=headers, json=json)
    except WireError as err:
        raise UpstreamFailure(err.kind, detail=err.detail) from None
    finally:
        release()
    return answer.status, answer


async def _httpx_call(client: httpx.AsyncClient, method: str, url: str, timeout_s: float,
                      connect_s: float, headers: dict, json: Any,
                      slots: asyncio.Semaphore | None) -> httpx.Response:
    timeout = httpx.Timeout(timeout_s, connect=min(connect_s, timeout_s))
    # The call runs in its own task and is never cancelled: giving up on it (our deadline,
    # or the client going away) only stops waiting. httpcore 1.0.9 leaks a pool slot for
    # good when a request is cancelled while it waits for a connection under contention
    # (encode/httpcore#1093); after an overload every call then timed out against a
    # healthy upstream. The abandoned call ends by httpx's own timeouts (same values).
    # With ``slots``, no request ever waits inside httpcore's pool at all: the queue is
    # ours, and leaving it is safe. Without them the pool still wedged after repeated
    # collapses (bench/README.md, target 3: the classifier saw no request for minutes
    # while every gateway call to it timed out).
    deadline = asyncio.get_running_loop().time() + timeout_s
    call = None
    try:
        async with asyncio.timeout_at(deadline):
            release = await take_slot(slots)
            call = asyncio.ensure_future(client.request(method, url, json=json,
                                                        headers=headers, timeout=timeout))
            call.add_done_callback(lambda _: release())
            return await asyncio.shield(call)
    except (TimeoutError, httpx.TransportError) as err:
        _abandon(call)
        raise classify_transport_error(err) from None
    except BaseException:
        _abandon(call)
        raise


def _abandon(call: asyncio.Future | None) -> None:
    """Let a call we stopped waiting for finish on its own; its outcome is dropped."""
    if call is not None and not call.done():
        call.add_done_callback(_drop_outcome)


def _drop_outcome(call: asyncio.Future) -> None:
    if not call.cancelled():
        call.exception()  # retrieved, so asyncio does not log it as never retrieved


class Upstream:
    def __init__(self, name: str, pool: ReplicaPool, metrics: GatewayMetrics,
                 clock: Clock = time.monotonic, rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.name = name
        self.pool = pool
        self.metrics = metrics
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.breaker = CircuitBreaker(name, clock, on_change=metrics.set_circuit_state)
        self.budget = RetryBudget(clock)
        self.throttle = AdaptiveThrottle(clock, self.rng)
        self.client: httpx.AsyncClient | None = None  # the llm's streams; test transports
        self.wire: WireClient | None = None  # JSON calls (services/gateway/wire.py)
        self.slots: asyncio.Semaphore | None = None  # one per pooled connection

    async def call(self, policy: Policy, send: Callable[[Replica], Awaitable[T]]) -> T:
        retry = policy.retry
        self.budget.record_request(retry)
        tried: list[Replica] = []
        last: UpstreamFailure | None = None
        for attempt in range(1, retry.max_attempts + 1):
            if last is not None:
                delay = self._retry_delay(last, attempt - 1, policy, tried)
                if delay is None:
                    break
                if not self.budget.try_acquire(retry):
                    self.metrics.budget_exhausted.labels(self.name).inc()
                    log.info("retry budget exhausted", extra={"upstream": self.name})
                    break
                self.metrics.retries.labels(self.name).inc()
                if delay > 0:
                    await self.sleep(delay)
            try:
                return await self._attempt(policy, send, tried)
            except UpstreamFailure as failure:
                failure.upstream = self.name
                last = failure
        assert last is not None
        raise last

    def _retry_delay(self, failure: UpstreamFailure, retry: int, policy: Policy,
                     tried: list[Replica]) -> float | None:
        """Seconds to wait before the retry, or None when it must not be retried. A
        Retry-After is honoured when short, unless another replica can be tried at once."""
        if not failure.retryable:
            return None
        rp = policy.retry
        delay = backoff_delay(retry, rp.backoff_base_s, rp.backoff_max_s, self.rng)
        if failure.retry_after is not None:
            others = [r for r in self.pool.available() if r not in tried]
            if not others:
                if failure.retry_after > rp.retry_after_max_s:
                    return None
                delay = max(delay, failure.retry_after)
        return delay

    async def _attempt(self, policy: Policy, send: Callable[[Replica], Awaitable[T]],
                       tried: list[Replica]) -> T:
        if policy.admission.adaptive_throttling and self.throttle.should_reject(policy.admission):
            self.metrics.observe_attempt(self.name, "rejected", None)
            self.metrics.shed.labels("adaptive_throttle").inc()
            raise UpstreamFailure("throttled", detail="rejected locally by adaptive throttling")
        permit = self.breaker.allow(policy.breaker)
        if permit is None:
            self.metrics.observe_attempt(self.name, "rejected", None)
            raise UpstreamFailure("circuit_open", detail="failing fast")
        replica = self.pool.pick(policy.balancing, exclude=tried)
        if replica is None:
            self.breaker.record(permit, policy.breaker, None)
            self.metrics.observe_attempt(self.name, "rejected", None)
            raise UpstreamFailure("no_replica", detail="no replica configured")
        tried.append(replica)
        replica.outstanding += 1
        start = time.perf_counter()
        ok: bool | None = None
        try:
            try:
                result = await send(replica)
            except (TimeoutError, httpx.HTTPError) as err:
                raise classify_transport_error(err) from None
            ok = True
            self.metrics.observe_attempt(self.name, "success", time.perf_counter() - start)
            return result
        except UpstreamFailure as failure:
            ok = failure.upstream_healthy
            if failure.status in SHED_STATUSES:
                note_shed_upstream()  # a drop, for the adaptive limit
            self.metrics.observe_attempt(self.name, failure.kind, time.perf_counter() - start)
            if (skipped := FAILURE_LOGS.take((self.name, failure.kind))) is not None:
                log.info("upstream attempt failed", extra={
                    "upstream": self.name, "replica": replica.url,
                    "failure": failure.describe(), "not_logged": skipped})
            raise
        finally:
            replica.outstanding -= 1
            self.breaker.record(permit, policy.breaker, ok)
            if ok is not None:
                self.pool.record(replica, policy.balancing, ok)
            if ok:
                self.throttle.record_accept()

    @property
    def json_client(self) -> WireClient | httpx.AsyncClient | None:
        """What JSON calls go over: the gateway's own client, or httpx over the transports
        a test mounted in process."""
        return self.wire or self.client

    def snapshot(self, policy: Policy) -> dict:
        return {
            "circuit": self.breaker.snapshot(policy.breaker),
            "retry_budget": self.budget.snapshot(),
            "throttle_probability": round(self.throttle.probability(policy.admission), 4),
            "replicas": self.pool.snapshot(),
        }
