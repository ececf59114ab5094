"""The gateway's runtime state: current policy, upstreams with their clients, fallbacks."""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections.abc import Mapping

import httpx

from gameday_services.gateway.admission import Admission
from gameday_services.gateway.calls import Upstream
from gameday_services.gateway.fallbacks import Fallbacks
from gameday_services.gateway.looplag import LoopLag
from gameday_services.gateway.metrics import UPSTREAMS, GatewayMetrics
from gameday_services.gateway.policy import Policy
from gameday_services.gateway.pool import PooledTransport
from gameday_services.gateway.settings import Settings
from gameday_services.gateway.upstreams import ReplicaPool
from gameday_services.gateway.window import Clock
from gameday_services.gateway.wire import WireClient

log = logging.getLogger("services.gateway")


def skip_missing_sniffio() -> None:
    """Make ``import sniffio`` fail at once when sniffio is not installed.

    httpcore 1.0.9 tries ``import sniffio`` in every lock, event and cancel shield it sets
    up, several per upstream call, and falls back to asyncio when the import fails. anyio
    4.12+ no longer installs sniffio, and Python does not remember failed imports, so each
    try searched sys.path again: 7% of the gateway's CPU under overload (py-spy, bench
    overload at 4x; encode/httpcore#1103). A None entry in sys.modules is Python's own
    "known missing" mark. Installing sniffio makes this a no-op.
    """
    if "sniffio" in sys.modules:
        return
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules["sniffio"] = None


class Gateway:
    def __init__(self, settings: Settings, metrics: GatewayMetrics,
                 transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
                 clock: Clock = time.monotonic, rng: random.Random | None = None,
                 sleep=asyncio.sleep) -> None:
        self.settings = settings
        self.metrics = metrics
        self.transports = dict(transports or {})
        self.start_policy = settings.policy()
        self.policy: Policy = self.start_policy
        self.admission = Admission()
        self.loop_lag = LoopLag(rng=rng)
        metrics.loop_lag.set_function(lambda: self.loop_lag.lag_s)
        metrics.concurrency_limit.set_function(
            lambda: self.admission.current_limit(self.policy.admission))
        self.fallbacks = Fallbacks(clock)
        self.started_at: float | None = None
        rng = rng or random.Random()
        urls = {"features": [settings.features_url], "classifier": settings.classifier_urls,
                "llm": [settings.llm_url]}
        self.upstreams: dict[str, Upstream] = {
            name: Upstream(name, ReplicaPool(name, urls[name], clock, rng,
                                             on_ejection=metrics.set_ejected),
                           metrics, clock, rng, sleep)
            for name in UPSTREAMS
        }

    @property
    def features(self) -> Upstream:
        return self.upstreams["features"]

    @property
    def classifier(self) -> Upstream:
        return self.upstreams["classifier"]

    @property
    def llm(self) -> Upstream:
        return self.upstreams["llm"]

    # -- lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        """One shared client per upstream, with connection limits."""
        skip_missing_sniffio()
        mounts = {prefix: t for prefix, t in self.transports.items()}
        for upstream in self.upstreams.values():
            # the slots bound the calls in flight, so the pool never holds more connections
            upstream.client = httpx.AsyncClient(
                transport=PooledTransport(max_idle=self.settings.max_connections),
                mounts=mounts, follow_redirects=False, trust_env=False)
            upstream.slots = asyncio.Semaphore(self.settings.max_connections)
            # JSON calls on the gateway's own client; over httpx only when a test mounted
            # in-process transports (the wire client speaks to sockets only)
            upstream.wire = None if mounts else WireClient(self.settings.max_connections)
        self.loop_lag.start()
        self.started_at = time.monotonic()

    async def stop(self) -> None:
        await self.loop_lag.stop()
        for upstream in self.upstreams.values():
            if upstream.client is not None:
                await upstream.client.aclose()
                upstream.client = None
            if upstream.wire is not None:
                await upstream.wire.aclose()
                upstream.wire = None

    def readiness(self) -> tuple[bool, str]:
        if not self.classifier.pool.replicas:
            return False, "no classifier replica configured"
        if self.started_at is None:
            return False, "starting"
        if time.monotonic() - self.started_at < self.settings.load_time_s:
            return False, "starting"
        return True, ""

    # -- levers -------------------------------------------------------------------
    def set_policy(self, policy: Policy) -> None:
        """Put ``policy`` in force. An adaptive limit turned on starts afresh (its start
        value, no latency learnt, a probe after its first window): what it learnt when it
        was last on may be minutes old, from another load or another model version."""
        turned_on = policy.admission.adaptive_limit and not self.policy.admission.adaptive_limit
        self.policy = policy
        if turned_on:
            self.admission.restart_limit()
        log.warning("policy changed", extra={"policy": policy.model_dump()})

    def set_urls(self, name: str, urls: list[str]) -> None:
        for url in self.upstreams[name].pool.set_urls(urls):
            self.metrics.forget_replica(name, url)
        log.warning("replicas changed", extra={"upstream": name, "urls": urls})
