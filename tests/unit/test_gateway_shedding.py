"""Shedding before routing: refused requests are not parsed, are counted under their route,
and every admitted request gives its slot back, whatever its end."""

import asyncio

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from tests.integration.fake_upstreams import (
    CLASSIFIER_A,
    CLASSIFIER_B,
    LLM_URL,
    gateway_app,
    in_process_fakes,
)
from tests.procs import TEST_TOKEN

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


def http_count(registry, route, code):
    return registry.get_sample_value(
        "http_requests_total",
        {"service": "gateway", "route": route, "method": "POST", "code": str(code)}) or 0


def shed_count(registry, reason):
    return registry.get_sample_value("gateway_shed_requests_total", {"reason": reason})


async def with_one_slow_request(monkeypatch, bodies, admission=None, path="/v1/classify"):
    """One slow classify request holds the only slot while ``bodies`` are posted to
    ``path``; returns their answers, the gateway and the registry."""
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    fakes = in_process_fakes()
    for url in (CLASSIFIER_A, CLASSIFIER_B):
        fakes[url].state.control.delay_s = 0.3
    registry = CollectorRegistry()
    app = gateway_app(fakes, registry, admission={"max_in_flight": 1, **(admission or {})})
    gw = app.state.gateway
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            first = asyncio.create_task(client.post("/v1/classify", json={"entity_id": "e0001"}))
            await asyncio.sleep(0.1)
            answers = [await client.post(path, content=body,
                                         headers={"content-type": "application/json",
                                                  "x-request-id": f"shed-{i}"})
                       for i, body in enumerate(bodies)]
            assert (await first).status_code == 200
    return answers, gw, registry


@pytest.mark.parametrize("path", ["/v1/classify", "/v1/generate"])
def test_a_request_over_the_limit_is_shed_before_its_body_is_read(monkeypatch, path):
    bodies = [b"{not json", b'{"entity_id": 12}', b'{"entity_id": "e0002"}']
    answers, gw, registry = asyncio.run(with_one_slow_request(monkeypatch, bodies, path=path))
    for i, r in enumerate(answers):
        assert r.status_code == 429, r.text  # not 400/422: the body was never parsed
        assert r.headers["retry-after"] == "1"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-request-id"] == f"shed-{i}"
        assert r.json() == {"detail": "gateway overloaded (max_in_flight), retry later",
                            "reason": "max_in_flight"}
    assert http_count(registry, path, 429) == 3
    assert shed_count(registry, "max_in_flight") == 3
    assert gw.admission.in_flight == 0


def test_shed_status_and_retry_after_follow_the_policy(monkeypatch):
    answers, _, _ = asyncio.run(with_one_slow_request(
        monkeypatch, [b"{}"], admission={"shed_status": 503, "retry_after_s": 7}))
    assert answers[0].status_code == 503 and answers[0].headers["retry-after"] == "7"


def test_the_adaptive_limit_sheds_classify_with_its_own_reason_before_the_body(monkeypatch):
    """Refused before the body is read (an unparseable one answers 429, not 422), outside
    FastAPI's layers yet counted under the route with the request's id."""
    async def run():
        monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
        fakes = in_process_fakes()
        for url in (CLASSIFIER_A, CLASSIFIER_B):
            fakes[url].state.control.delay_s = 0.3
        registry = CollectorRegistry()
        app = gateway_app(fakes, registry, admission={"adaptive_limit": True, "limit_min": 1})
        gw = app.state.gateway
        gw.admission.limit.limit = 1.0
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                first = asyncio.create_task(client.post("/v1/classify",
                                                        json={"entity_id": "e0001"}))
                await asyncio.sleep(0.1)
                second = await client.post("/v1/classify", content=b"{not json",
                                           headers={"content-type": "application/json",
                                                    "x-request-id": "shed-adaptive"})
                assert (await first).status_code == 200
        return second, gw, registry

    second, gw, registry = asyncio.run(run())
    assert second.status_code == 429, second.text
    assert second.json()["reason"] == "adaptive_limit"
    assert second.headers["x-request-id"] == "shed-adaptive"
    assert http_count(registry, "/v1/classify", 429) == 1
    assert shed_count(registry, "adaptive_limit") == 1
    assert shed_count(registry, "max_in_flight") == 0
    assert gw.admission.in_flight == 0 and gw.admission.limit.in_flight == 0


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    fakes = in_process_fakes()
    registry = CollectorRegistry()
    app = gateway_app(fakes, registry, admission={"max_in_flight": 1},
                      retry={"max_attempts": 1}, fallbacks={"cached_answer": False,
                                                            "most_frequent_class": False})
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, fakes, app.state.gateway, registry


def test_slots_are_given_back_after_errors(client, monkeypatch):
    c, fakes, gw, registry = client
    for url in (CLASSIFIER_A, CLASSIFIER_B):
        fakes[url].state.control.status = 500
    assert c.post("/v1/classify", json={"entity_id": "e0001"}).status_code in (502, 503)
    assert c.post("/v1/classify", json={"nope": 1}).status_code == 422  # admitted, invalid
    fakes[LLM_URL].state.control.status = 503
    assert c.post("/v1/generate", json={"prompt": "hi"}).status_code == 503

    async def boom(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("gameday_services.gateway.routes_classify.run_classify", boom)
    assert c.post("/v1/classify", json={"entity_id": "e0001"}).status_code == 500
    assert gw.admission.in_flight == 0
    assert http_count(registry, "/v1/classify", 429) == 0  # the cap of 1 was never hit


def test_slots_are_given_back_when_streams_end(client):
    c, _, gw, _ = client
    for _ in range(3):
        with c.stream("POST", "/v1/generate", json={"prompt": "hi", "max_tokens": 3}) as r:
            assert r.status_code == 200
            r.read()
        assert gw.admission.in_flight == 0
    assert c.post("/v1/classify", json={"entity_id": "e0001"}).status_code == 200


def test_the_limit_in_force_is_a_gauge_and_the_levers_are_validated(client):
    c, _, _, registry = client
    assert registry.get_sample_value("gateway_concurrency_limit") == 1
    r = c.patch("/admin/policy", headers=AUTH,
                json={"admission": {"max_in_flight": 100, "adaptive_limit": True}})
    assert r.status_code == 200 and r.json()["admission"]["adaptive_limit"] is True
    assert registry.get_sample_value("gateway_concurrency_limit") == 20  # its start value
    # turned off and on again, it starts afresh: not from what it learnt minutes before
    gw = client[2]
    gw.admission.limit.limit, gw.admission.limit.no_load_s = 77.0, 0.02
    c.patch("/admin/policy", headers=AUTH, json={"admission": {"limit_tolerance": 5}})
    assert registry.get_sample_value("gateway_concurrency_limit") == 77  # still on: kept
    c.patch("/admin/policy", headers=AUTH, json={"admission": {"adaptive_limit": False}})
    assert registry.get_sample_value("gateway_concurrency_limit") == 100  # the cap
    c.patch("/admin/policy", headers=AUTH, json={"admission": {"adaptive_limit": True}})
    assert registry.get_sample_value("gateway_concurrency_limit") == 20
    assert gw.admission.limit.no_load_s is None
    r = c.patch("/admin/policy", headers=AUTH,
                json={"admission": {"limit_target_latency_s": 0}})
    assert r.status_code == 422
    assert r.json()["detail"] == ("policy: field 'admission.limit_target_latency_s': Input "
                                  "should be greater than 0, got 0")
    r = c.patch("/admin/policy", headers=AUTH, json={"admission": {"limit_min": "few"}})
    assert r.status_code == 422 and "'admission.limit_min'" in r.json()["detail"]
    assert "got 'few'" in r.json()["detail"]


async def post_slowly(client, path, body: bytes, pause_s: float, headers=None):
    """POST ``body`` one byte per ``pause_s`` (a slow client)."""
    async def trickle():
        for i in range(len(body)):
            await asyncio.sleep(pause_s)
            yield body[i:i + 1]
    return await client.post(path, content=trickle(),
                             headers={"content-type": "application/json", **(headers or {})})


def slow_client_app(monkeypatch, **settings):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    registry = CollectorRegistry()
    app = gateway_app(in_process_fakes(), registry, admission={"max_in_flight": 1}, **settings)
    return app, registry


def test_a_slow_body_holds_no_slot(monkeypatch):
    """With one slot, a client trickling its body does not keep others out; its request is
    admitted once the body is in, and answered."""
    app, registry = slow_client_app(monkeypatch, body_timeout_s=5)

    async def run():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                slow = asyncio.create_task(post_slowly(
                    client, "/v1/classify", b'{"entity_id": "e0002"}', 0.02))
                await asyncio.sleep(0.1)
                fast = [await client.post("/v1/classify", json={"entity_id": "e0001"})
                        for _ in range(5)]
                return await slow, fast

    slow, fast = asyncio.run(run())
    assert [r.status_code for r in fast] == [200] * 5
    assert slow.status_code == 200 and slow.json()["entity_id"] == "e0002"
    assert http_count(registry, "/v1/classify", 429) == 0
    assert app.state.gateway.admission.in_flight == 0


def test_a_body_slower_than_the_timeout_is_answered_408_and_never_admitted(monkeypatch):
    app, registry = slow_client_app(monkeypatch, body_timeout_s=0.2)

    async def run():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                slow = await post_slowly(client, "/v1/classify",
                                         b'{"entity_id": "e0001"}', 0.05,
                                         headers={"x-request-id": "slow-1"})
                after = await client.post("/v1/classify", json={"entity_id": "e0001"})
                return slow, after

    slow, after = asyncio.run(run())
    assert slow.status_code == 408
    assert slow.json() == {"detail": "request body not received within 0.2 s"}
    assert slow.headers["connection"] == "close"
    assert slow.headers["x-request-id"] == "slow-1"
    assert after.status_code == 200
    assert http_count(registry, "/v1/classify", 408) == 1
    assert shed_count(registry, "max_in_flight") == 0
    assert app.state.gateway.admission.in_flight == 0


@pytest.mark.parametrize("path", ["/v1/classify", "/v1/generate"])
def test_a_body_over_the_limit_is_answered_413_unparsed(monkeypatch, path):
    from gameday_services.common.limits import MAX_BODY_BYTES

    app, registry = slow_client_app(monkeypatch)

    async def chunks():  # no declared length
        for _ in range(3):
            yield b"x" * (MAX_BODY_BYTES // 2)

    async def run():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                chunked = await client.post(path, content=chunks())
                declared = await client.post(path, content=b"y" * (MAX_BODY_BYTES + 1))
                return chunked, declared

    chunked, declared = asyncio.run(run())
    assert chunked.status_code == 413, chunked.text
    assert chunked.json() == {"detail": f"request body over {MAX_BODY_BYTES} bytes"}
    assert declared.status_code == 413, declared.text  # FastAPI's own limit answers it
    assert http_count(registry, path, 413) == 2
    assert http_count(registry, path, 500) == 0
    assert app.state.gateway.admission.in_flight == 0


def test_the_body_timeout_is_a_validated_setting():
    from pydantic import ValidationError

    from gameday_services.gateway.settings import Settings

    assert Settings().body_timeout_s == 2.0
    with pytest.raises(ValidationError, match="body_timeout_s"):
        Settings(body_timeout_s=0)
