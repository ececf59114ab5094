"""The gateway's own queue: a late event loop sheds /v1/classify once the adaptive limit is on
(and only then), and per-request log lines come at a bounded rate."""

import asyncio
import logging
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry

from gameday_services.gateway.lograte import LogRate
from gameday_services.gateway.looplag import LoopLag, shed_probability
from tests.integration.fake_upstreams import (
    CLASSIFIER_A,
    CLASSIFIER_B,
    FEATURES_URL,
    gateway_app,
    in_process_fakes,
)
from tests.procs import TEST_TOKEN


def test_the_shed_probability_rises_from_the_lag_allowed_to_twice_it():
    assert shed_probability(0.0, 0.05) == 0.0
    assert shed_probability(0.05, 0.05) == 0.0
    assert shed_probability(0.075, 0.05) == pytest.approx(0.5)
    assert shed_probability(0.1, 0.05) == 1.0
    assert shed_probability(3.0, 0.05) == 1.0


def test_the_timer_measures_a_loop_held_by_work_and_forgets_it_when_the_loop_is_free():
    async def run():
        lag = LoopLag()
        lag.start()
        await asyncio.sleep(0.12)
        quiet = lag.lag_s
        time.sleep(0.3)  # a step of the loop that keeps it for 0.3 s
        for _ in range(3):  # the timer, due long ago, fires; its task steps
            await asyncio.sleep(0)
        held = lag.lag_s
        await asyncio.sleep(0.2)
        after = lag.lag_s
        await lag.stop()
        return quiet, held, after

    quiet, held, after = asyncio.run(run())
    assert quiet < 0.04
    assert 0.2 <= held <= 0.5
    assert after < 0.04


def classify_while_the_loop_lags(monkeypatch, adaptive: bool) -> tuple[list[int], dict, int]:
    """Twenty classify requests right after the loop was held for 0.3 s: their statuses, the
    shed counts and the requests in flight when the first was refused (or answered)."""
    async def run():
        monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
        registry = CollectorRegistry()
        app = gateway_app(in_process_fakes(), registry,
                          admission={"adaptive_limit": adaptive})
        gw = app.state.gateway
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                await asyncio.sleep(0.12)
                time.sleep(0.3)  # the gateway's core busy elsewhere
                for _ in range(3):
                    await asyncio.sleep(0)
                in_flight = gw.admission.in_flight
                statuses = [(await client.post("/v1/classify",
                                               json={"entity_id": "e0001"})).status_code
                            for i in range(20)]
        shed = {reason: registry.get_sample_value("gateway_shed_requests_total",
                                                  {"reason": reason})
                for reason in ("adaptive_limit", "max_in_flight")}
        lag = registry.get_sample_value("gateway_event_loop_lag_seconds")
        return statuses, shed, in_flight, lag

    return asyncio.run(run())


def test_a_late_loop_sheds_classify_with_the_adaptive_limit_on(monkeypatch):
    statuses, shed, in_flight, lag = classify_while_the_loop_lags(monkeypatch, adaptive=True)
    assert in_flight == 0  # no concurrency limit could have seen this queue
    assert statuses.count(429) >= 10, statuses  # refused until the timer runs on time again
    assert shed["adaptive_limit"] == statuses.count(429)
    assert shed["max_in_flight"] == 0
    assert lag is not None


def test_a_late_loop_sheds_nothing_with_the_adaptive_limit_off(monkeypatch):
    # The overload-spike drill's diagnosis, before the lever: nothing shed.
    statuses, shed, _, _ = classify_while_the_loop_lags(monkeypatch, adaptive=False)
    assert statuses == [200] * 20
    assert shed == {"adaptive_limit": 0, "max_in_flight": 0}


def test_the_lag_allowed_is_a_validated_lever(monkeypatch):
    from gameday.errors import ValidationError
    from gameday_services.gateway.policy import Policy, validate_policy_update

    policy = validate_policy_update(Policy(), {"admission": {"limit_max_loop_lag_s": 0.2}})
    assert policy.admission.limit_max_loop_lag_s == 0.2
    with pytest.raises(ValidationError, match="limit_max_loop_lag_s"):
        validate_policy_update(Policy(), {"admission": {"limit_max_loop_lag_s": -1}})


def test_a_log_line_of_each_kind_a_second_with_the_count_left_out():
    now = [100.0]
    rate = LogRate(clock=lambda: now[0])
    assert rate.take("cached_answer") == 0
    assert [rate.take("cached_answer") for _ in range(3)] == [None] * 3
    assert rate.take("guess") == 0  # another kind has its own second
    now[0] += 1.0
    assert rate.take("cached_answer") == 3
    assert rate.take("cached_answer") is None


def test_a_storm_of_fallbacks_logs_one_line_per_kind(monkeypatch, caplog):
    """Feature store down: 30 requests answered with default features log one line of that
    kind (the metric counts all 30)."""
    from gameday_services.gateway import classify

    monkeypatch.setattr(classify, "FALLBACK_LOGS", LogRate())

    async def run():
        monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
        fakes = in_process_fakes()
        fakes[FEATURES_URL].state.control.status = 503
        for url in (CLASSIFIER_A, CLASSIFIER_B):
            assert fakes[url].state.control.status == 200
        registry = CollectorRegistry()
        app = gateway_app(fakes, registry, retry={"max_attempts": 1})
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                for i in range(30):
                    r = await client.post("/v1/classify", json={"entity_id": f"e{i:04d}"})
                    assert r.json()["degraded_reasons"][:1] == ["default_features"]
        return registry.get_sample_value("gateway_fallbacks_total",
                                         {"kind": "default_features"})

    with caplog.at_level(logging.INFO, logger="services.gateway"):
        counted = asyncio.run(run())
    lines = [r for r in caplog.records if r.getMessage() == "fallback: default features"]
    assert counted == 30
    assert len(lines) == 1 and lines[0].not_logged == 0
