"""Upstream.call: retries, Retry-After, budget, breaker and throttle around one send()."""

import asyncio
import random

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from gameday_services.gateway.calls import Upstream, UpstreamFailure
from gameday_services.gateway.metrics import GatewayMetrics
from gameday_services.gateway.policy import Policy
from gameday_services.gateway.upstreams import ReplicaPool
from tests.integration.fake_upstreams import (
    CLASSIFIER_A,
    CLASSIFIER_B,
    gateway_app,
    in_process_fakes,
)
from tests.procs import TEST_TOKEN


def make_upstream(urls=("http://a",), registry=None):
    registry = registry or CollectorRegistry()
    sleeps = []

    async def sleep(seconds):
        sleeps.append(seconds)

    pool = ReplicaPool("llm", list(urls), rng=random.Random(0))
    upstream = Upstream("llm", pool, GatewayMetrics(registry), rng=random.Random(0),
                        sleep=sleep)
    return upstream, sleeps, registry


def run(upstream, policy, failures):
    """Call with a send() that raises the given failures in turn, then succeeds."""
    calls = []

    async def send(replica):
        calls.append(replica.url)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "ok"

    async def main():
        return await upstream.call(policy, send)

    return asyncio.run(main()), calls


def test_short_retry_after_is_honoured_on_a_single_replica():
    upstream, sleeps, _ = make_upstream()
    result, calls = run(upstream, Policy(), [UpstreamFailure("error", 503, retry_after=0.4)])
    assert result == "ok" and len(calls) == 2
    assert sleeps[0] >= 0.4


def test_long_retry_after_means_no_retry():
    upstream, sleeps, _ = make_upstream()
    with pytest.raises(UpstreamFailure) as err:
        run(upstream, Policy(), [UpstreamFailure("error", 503, retry_after=30)])
    assert err.value.status == 503 and err.value.retry_after == 30 and sleeps == []


def test_retry_after_does_not_delay_a_retry_on_another_replica():
    upstream, sleeps, _ = make_upstream(("http://a", "http://b"))
    result, calls = run(upstream, Policy(), [UpstreamFailure("error", 503, retry_after=30)])
    assert result == "ok" and calls[0] != calls[1] and sleeps[0] < 1


def test_at_most_max_attempts():
    upstream, _, registry = make_upstream()
    failures = [UpstreamFailure("connect_error")] * 5
    with pytest.raises(UpstreamFailure):
        run(upstream, Policy(retry={"max_attempts": 3}), failures)
    assert registry.get_sample_value("gateway_retries_total", {"upstream": "llm"}) == 2
    assert registry.get_sample_value("gateway_upstream_requests_total",
                                     {"upstream": "llm", "outcome": "connect_error"}) == 3


def test_spent_budget_is_counted():
    upstream, _, registry = make_upstream()
    policy = Policy(retry={"budget_ratio": 0, "budget_min_retries": 0})
    with pytest.raises(UpstreamFailure):
        run(upstream, policy, [UpstreamFailure("timeout")])
    assert registry.get_sample_value("gateway_retry_budget_exhausted_total",
                                     {"upstream": "llm"}) == 1


def test_4xx_answer_keeps_the_upstream_healthy():
    upstream, _, _ = make_upstream()
    policy = Policy(breaker={"consecutive_failures": 1})
    with pytest.raises(UpstreamFailure):
        run(upstream, policy, [UpstreamFailure("error", 422, upstream_healthy=True)])
    assert upstream.breaker.state(policy.breaker) == "closed"


@pytest.fixture
def make_client(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    fakes, registry = in_process_fakes(), CollectorRegistry()
    clients = []

    def make(**settings):
        client = TestClient(gateway_app(fakes, registry, **settings)).__enter__()
        clients.append(client)
        return client, fakes, registry

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_slow_replica_times_out_and_the_other_answers(make_client):
    client, fakes, registry = make_client(timeouts={"classifier_s": 0.1})
    fakes[CLASSIFIER_A].state.control.delay_s = 1.0
    r = client.post("/v1/classify", json={"entity_id": "e0001"})
    assert r.status_code == 200 and r.json()["replica"] == CLASSIFIER_B
    assert registry.get_sample_value("gateway_upstream_requests_total",
                                     {"upstream": "classifier", "outcome": "timeout"}) == 1


def test_adaptive_throttling_rejects_locally_when_turned_on(make_client):
    client, fakes, registry = make_client(
        admission={"adaptive_throttling": True}, retry={"max_attempts": 1},
        breaker={"enabled": False}, balancing={"outlier_detection": False},
        fallbacks={"cached_answer": False, "most_frequent_class": False})
    for url in (CLASSIFIER_A, CLASSIFIER_B):
        fakes[url].state.control.status = 503
    reasons = [client.post("/v1/classify", json={"entity_id": "e0001"}).json()["reason"]
               for _ in range(40)]
    assert "throttled" in reasons
    shed = registry.get_sample_value("gateway_shed_requests_total",
                                     {"reason": "adaptive_throttle"})
    assert shed == reasons.count("throttled")
    assert registry.get_sample_value("gateway_upstream_requests_total",
                                     {"upstream": "classifier", "outcome": "rejected"}) == shed


def test_a_missing_sniffio_is_marked_missing_once(monkeypatch):
    """httpcore tries ``import sniffio`` several times per upstream call; without the mark
    each try searches sys.path again (about 40 us each)."""
    import importlib.util
    import sys

    from gameday_services.gateway.state import skip_missing_sniffio

    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    installed = importlib.util.find_spec("sniffio") is not None
    skip_missing_sniffio()
    if installed:
        assert sys.modules["sniffio"] is not None
    else:
        assert sys.modules["sniffio"] is None
        with pytest.raises(ImportError):
            import sniffio  # noqa: F401
