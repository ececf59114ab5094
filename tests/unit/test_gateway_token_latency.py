"""Time to first token and inter-token latency of /v1/generate as the gateway's client sees
them (gateway_time_to_first_token_seconds, gateway_inter_token_latency_seconds) and what
became of each request (gateway_generate_requests_total{outcome}).

The llm is an in-process httpx transport that streams for real, with delays before its
answer, before the first token and between tokens (ASGITransport would hand the gateway the
whole body at once).
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from gameday_services.gateway.app import create_app
from gameday_services.gateway.metrics import GENERATE_OUTCOMES
from gameday_services.gateway.settings import Settings
from tests.integration.fake_upstreams import CLASSIFIER_A, FEATURES_URL, LLM_URL
from tests.procs import TEST_TOKEN

TTFT = "gateway_time_to_first_token_seconds"
ITL = "gateway_inter_token_latency_seconds"
OUTCOMES = "gateway_generate_requests_total"


class SlowLlm(httpx.AsyncBaseTransport):
    """An llm that waits ``answer_s`` before its headers, ``first_s`` before the first
    token, ``between_s`` between tokens; ``status`` other than 200 answers JSON at once."""

    def __init__(self) -> None:
        self.answer_s = self.first_s = self.between_s = 0.0
        self.tokens = 4
        self.status = 200
        self.per_chunk = 1  # token events per chunk
        self.tokenless = False  # a stream that ends with no token (an engine error)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self.answer_s)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "fake"},
                                  headers={"Retry-After": "1"})
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              stream=_Events(self))


class _Events(httpx.AsyncByteStream):
    def __init__(self, llm: SlowLlm) -> None:
        self.llm = llm

    async def __aiter__(self):
        llm = self.llm
        if not llm.tokenless:
            events = [f'data: {{"token": " w{i}", "index": {i}}}\n\n'.encode()
                      for i in range(llm.tokens)]
            for i in range(0, len(events), llm.per_chunk):
                await asyncio.sleep(llm.first_s if i == 0 else llm.between_s)
                yield b"".join(events[i:i + llm.per_chunk])
        done = {"done": True, "finish_reason": "error" if llm.tokenless else "length"}
        yield f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode()


@pytest.fixture
def gateway(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    llm = SlowLlm()
    registry = CollectorRegistry()
    settings = Settings(features_url=FEATURES_URL, classifier_urls=[CLASSIFIER_A],
                        llm_url=LLM_URL, retry={"max_attempts": 1},
                        timeouts={"llm_ttft_s": 2.0})
    app = create_app(settings, registry, transports={LLM_URL: llm})
    with TestClient(app) as client:
        yield client, llm, registry


def generate(client, max_tokens: int = 4):
    with client.stream("POST", "/v1/generate",
                       json={"prompt": "hi", "max_tokens": max_tokens}) as r:
        body = r.read().decode()
    return r.status_code, body


def sample(registry, name: str, **labels) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None, (name, labels)
    return value


def outcomes(registry) -> dict:
    return {o: sample(registry, OUTCOMES, outcome=o) for o in GENERATE_OUTCOMES}


def test_every_series_exists_at_zero_before_any_request(gateway):
    _, _, registry = gateway
    assert outcomes(registry) == {"first_token": 0, "failed": 0, "refused": 0}
    # the SLO's threshold is a bucket boundary, written as /metrics writes it
    assert sample(registry, f"{TTFT}_bucket", le="1.0") == 0
    assert sample(registry, f"{TTFT}_count") == 0
    assert sample(registry, f"{ITL}_bucket", le="0.05") == 0
    assert sample(registry, f"{ITL}_count") == 0


def test_first_token_time_includes_the_upstream_delay(gateway):
    client, llm, registry = gateway
    llm.answer_s, llm.first_s, llm.between_s = 0.2, 0.15, 0.03
    status, body = generate(client, max_tokens=4)
    assert status == 200 and body.count('"token"') == 4
    assert outcomes(registry) == {"first_token": 1, "failed": 0, "refused": 0}
    # 0.2 s to the llm's answer + 0.15 s to its first token: between 0.3 and 0.5 s
    assert sample(registry, f"{TTFT}_count") == 1
    assert sample(registry, f"{TTFT}_bucket", le="0.3") == 0
    assert sample(registry, f"{TTFT}_bucket", le="0.5") == 1
    assert 0.35 <= sample(registry, f"{TTFT}_sum") < 0.5
    # three gaps of about 30 ms between four tokens
    assert sample(registry, f"{ITL}_count") == 3
    assert sample(registry, f"{ITL}_bucket", le="0.025") == 0
    assert sample(registry, f"{ITL}_bucket", le="0.075") == 3
    assert 0.09 <= sample(registry, f"{ITL}_sum") < 0.225


def test_a_first_token_after_a_second_is_not_fast(gateway):
    client, llm, registry = gateway
    llm.first_s = 1.1
    status, _ = generate(client, max_tokens=2)
    assert status == 200
    assert sample(registry, f"{TTFT}_bucket", le="1.0") == 0
    assert sample(registry, f"{TTFT}_bucket", le="1.5") == 1


def test_tokens_in_one_chunk_reach_the_client_together(gateway):
    client, llm, registry = gateway
    llm.tokens, llm.per_chunk = 6, 3
    status, body = generate(client, max_tokens=6)
    assert status == 200 and body.count('"token"') == 6
    assert sample(registry, f"{TTFT}_count") == 1
    assert sample(registry, f"{ITL}_count") == 5
    assert sample(registry, f"{ITL}_bucket", le="0.001") >= 4  # 0 s within each chunk


def test_no_first_token_in_time_counts_as_failed_not_as_fast(gateway):
    client, llm, registry = gateway
    client.patch("/admin/policy", json={"timeouts": {"llm_ttft_s": 0.2}},
                 headers={"Authorization": f"Bearer {TEST_TOKEN}"}).raise_for_status()
    llm.first_s = 1.0
    status, _ = generate(client)
    assert status == 504
    assert outcomes(registry) == {"first_token": 0, "failed": 1, "refused": 0}
    assert sample(registry, f"{TTFT}_count") == 0  # no first token: no time to observe


def test_an_llm_5xx_is_failed_and_an_llm_4xx_is_refused(gateway):
    client, llm, registry = gateway
    llm.status = 503
    assert generate(client)[0] == 503
    llm.status = 422
    assert generate(client)[0] == 422
    assert outcomes(registry) == {"first_token": 0, "failed": 1, "refused": 1}


def test_a_stream_that_ends_without_a_token_is_failed(gateway):
    client, llm, registry = gateway
    llm.tokenless = True
    status, body = generate(client)
    assert status == 200 and '"token"' not in body
    assert outcomes(registry) == {"first_token": 0, "failed": 1, "refused": 0}
    assert sample(registry, f"{TTFT}_count") == 0


def test_client_errors_of_the_gateway_itself_are_not_counted(gateway):
    client, _, registry = gateway
    assert client.post("/v1/generate", json={"prompt": ""}).status_code == 422
    assert outcomes(registry) == {"first_token": 0, "failed": 0, "refused": 0}


def test_the_slo_ratio_is_fast_first_tokens_over_first_tokens_and_failures(gateway):
    """What slos/llm.yaml divides: 2 fast, 1 slow, 1 failed -> 2 good of 4."""
    client, llm, registry = gateway
    generate(client)
    generate(client)
    llm.first_s = 1.05
    generate(client)
    llm.first_s, llm.status = 0.0, 503
    generate(client)
    good = sample(registry, f"{TTFT}_bucket", le="1.0")
    total = sum(sample(registry, OUTCOMES, outcome=o) for o in ("first_token", "failed"))
    assert (good, total) == (2, 4)


def test_a_shed_generate_is_failed_with_503_and_not_judged_with_429(monkeypatch):
    """Admission sheds before the route: a 503 is a request that got no token, a 429 (the
    default, the kv-cache-exhaustion mitigation) a "retry later" the SLO does not judge."""
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    llm = SlowLlm()
    llm.first_s = 0.5
    registry = CollectorRegistry()
    settings = Settings(features_url=FEATURES_URL, classifier_urls=[CLASSIFIER_A],
                        llm_url=LLM_URL, retry={"max_attempts": 1},
                        admission={"max_in_flight": 1})
    app = create_app(settings, registry, transports={LLM_URL: llm})
    with TestClient(app) as client:
        with client.stream("POST", "/v1/generate", json={"prompt": "hi"}) as held:
            assert held.status_code == 200  # holds the only admission slot until read
            assert client.post("/v1/generate", json={"prompt": "hi"}).status_code == 429
            assert outcomes(registry)["failed"] == 0
            client.patch("/admin/policy", json={"admission": {"shed_status": 503}},
                         headers={"Authorization": f"Bearer {TEST_TOKEN}"}).raise_for_status()
            assert client.post("/v1/generate", json={"prompt": "hi"}).status_code == 503
            held.read()
    assert outcomes(registry) == {"first_token": 1, "failed": 1, "refused": 0}
