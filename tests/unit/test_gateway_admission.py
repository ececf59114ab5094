"""Admission control: max requests in flight (429/503 + Retry-After), adaptive throttling."""

import asyncio
import random

import httpx
import pytest
from prometheus_client import CollectorRegistry

from gameday_services.gateway.admission import AdaptiveThrottle, Admission, throttle_probability
from gameday_services.gateway.policy import AdmissionPolicy
from tests.integration.fake_upstreams import (
    CLASSIFIER_A,
    CLASSIFIER_B,
    gateway_app,
    in_process_fakes,
)
from tests.procs import TEST_TOKEN


def test_admission_counts_in_flight():
    admission = Admission()
    policy = AdmissionPolicy(max_in_flight=2)
    assert admission.try_enter(policy) and admission.try_enter(policy)
    assert not admission.try_enter(policy)
    admission.leave()
    assert admission.try_enter(policy)


def test_throttle_formula_is_the_sre_book_one():
    assert throttle_probability(0, 0, 2) == 0
    assert throttle_probability(100, 50, 2) == 0  # healthy: requests <= K * accepts
    assert throttle_probability(100, 0, 2) == pytest.approx(100 / 101)
    assert throttle_probability(100, 25, 2) == pytest.approx(50 / 101)


def test_throttle_rejects_locally_when_the_upstream_accepts_little():
    throttle = AdaptiveThrottle(rng=random.Random(3))
    policy = AdmissionPolicy(adaptive_throttling=True)
    rejected = 0
    for i in range(1000):
        if throttle.should_reject(policy):
            rejected += 1
        elif i % 10 == 0:  # the upstream accepts one request in ten
            throttle.record_accept()
    assert rejected > 500
    healthy = AdaptiveThrottle(rng=random.Random(3))
    for _ in range(1000):
        assert not healthy.should_reject(policy)
        healthy.record_accept()


async def concurrent_classify(monkeypatch, shed_status):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    fakes = in_process_fakes()
    registry = CollectorRegistry()
    for url in (CLASSIFIER_A, CLASSIFIER_B):
        fakes[url].state.control.delay_s = 0.3
    app = gateway_app(fakes, registry, admission={"max_in_flight": 1,
                                                  "shed_status": shed_status,
                                                  "retry_after_s": 2})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            first = asyncio.create_task(client.post("/v1/classify", json={"entity_id": "e0001"}))
            await asyncio.sleep(0.1)
            second = await client.post("/v1/classify", json={"entity_id": "e0002"})
            first = await first
            third = await client.post("/v1/classify", json={"entity_id": "e0002"})
    return first, second, third, registry


@pytest.mark.parametrize("status", [429, 503])
def test_second_concurrent_request_is_shed_with_retry_after(monkeypatch, status):
    first, second, third, registry = asyncio.run(concurrent_classify(monkeypatch, status))
    assert first.status_code == 200
    assert second.status_code == status
    assert second.headers["Retry-After"] == "2"
    assert second.json()["reason"] == "max_in_flight"
    assert third.status_code == 200  # the slot was given back
    assert registry.get_sample_value("gateway_shed_requests_total",
                                     {"reason": "max_in_flight"}) == 1
