"""POST /v1/generate against an in-process fake llm (token-by-token delivery is shown by
the integration test on real sockets)."""

import json

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from tests.integration.fake_upstreams import LLM_URL, gateway_app, in_process_fakes
from tests.procs import TEST_TOKEN


@pytest.fixture
def stack(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    fakes = in_process_fakes()
    registry = CollectorRegistry()
    app = gateway_app(fakes, registry, admission={"max_in_flight": 1},
                      timeouts={"llm_ttft_s": 0.2}, retry={"max_attempts": 1})
    with TestClient(app) as client:
        yield client, fakes[LLM_URL].state.control, registry


def all_slots_back(client) -> bool:
    gw = client.app.state.gateway
    return gw.llm.slots._value == gw.settings.max_connections


def events(text):
    return [json.loads(line[len("data: "):]) for line in text.splitlines()
            if line.startswith("data: ")]


def test_stream_is_proxied_as_event_stream(stack):
    client, control, registry = stack
    for _ in range(3):  # admission slots are given back when a stream ends
        with client.stream("POST", "/v1/generate", json={"prompt": "hi", "max_tokens": 4},
                           headers={"x-request-id": "gen-1"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            text = r.read().decode()
        got = events(text)
        assert [e["token"] for e in got[:-1]] == ["w0 ", "w1 ", "w2 ", "w3 "]
        assert got[-1]["done"] is True
    assert control.request_ids == ["gen-1"] * 3
    assert all_slots_back(client)
    assert control.bodies[-1] == {"prompt": "hi", "max_tokens": 4, "stream": True}
    assert registry.get_sample_value("gateway_upstream_requests_total",
                                     {"upstream": "llm", "outcome": "success"}) == 3


def test_upstream_503_is_passed_on_with_retry_after(stack):
    client, control, _ = stack
    control.status = 503
    control.retry_after = "4"
    r = client.post("/v1/generate", json={"prompt": "hi"})
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "4"
    assert r.json()["upstream"] == "llm"
    assert all_slots_back(client)


def test_upstream_4xx_is_passed_on_as_is(stack):
    client, control, _ = stack
    control.status = 422
    r = client.post("/v1/generate", json={"prompt": "hi"})
    assert r.status_code == 422 and r.json() == {"detail": "fake failure"}
    assert all_slots_back(client)


def test_no_first_token_in_time_is_a_504(stack):
    client, control, registry = stack
    control.delay_s = 1.0
    r = client.post("/v1/generate", json={"prompt": "hi"})
    assert r.status_code == 504 and r.json()["reason"] == "timeout"
    assert registry.get_sample_value("gateway_upstream_requests_total",
                                     {"upstream": "llm", "outcome": "timeout"}) == 1
    assert all_slots_back(client)


def test_bad_generate_input_is_a_422(stack):
    client, _, _ = stack
    assert client.post("/v1/generate", json={"prompt": ""}).status_code == 422
    assert client.post("/v1/generate", json={"prompt": "x", "max_tokens": 0}).status_code == 422
