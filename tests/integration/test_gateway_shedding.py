"""Shedding on real sockets: the gateway process refuses over its cap before reading the
body, counts the refusal under its route, keeps the connection usable, and frees the slot
of a stream when the stream ends or its client goes away."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.test_gateway_service import gateway_with_fakes
from tests.procs import auth


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with gateway_with_fakes(tmp_path_factory.mktemp("gateway-logs"), classifiers=("a",),
                            GATEWAY_ADMISSION__MAX_IN_FLIGHT="1") as running:
        yield running


def sample(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_free(gateway, timeout: float = 10.0) -> None:
    """Until a classify request is admitted again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.post(gateway.url + "/v1/classify", json={"entity_id": "e0001"},
                      timeout=5).status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("the slot was not given back")


def test_a_stream_holds_the_slot_and_refusals_skip_the_body(stack):
    gateway, fakes = stack
    fakes["llm"].control(hold=True)
    code_429 = 'http_requests_total{code="429",method="POST",route="/v1/classify",'
    shed = 'gateway_shed_requests_total{reason="max_in_flight"}'
    before = httpx.get(gateway.url + "/metrics").text
    with httpx.Client(base_url=gateway.url, timeout=10) as client, client.stream(
            "POST", "/v1/generate", json={"prompt": "hi", "max_tokens": 3}) as stream:
        lines = stream.iter_lines()  # kept: a dropped iterator closes the response
        assert next(lines).startswith("data: ")  # the only slot is taken
        big_invalid = b"{" + b"x" * 200_000  # neither read nor parsed: no 400, no 422
        with httpx.Client(base_url=gateway.url, timeout=10) as other:
            for _ in range(3):  # one keep-alive connection: the unread body is skipped
                r = other.post("/v1/classify", content=big_invalid,
                               headers={"content-type": "application/json",
                                        "x-request-id": "it-shed-1"})
                assert r.status_code == 429 and r.headers["retry-after"] == "1"
                assert r.json()["reason"] == "max_in_flight"
                assert r.headers["x-request-id"] == "it-shed-1"
            assert other.get("/healthz").status_code == 200
        fakes["llm"].release()
        assert any("\"done\": true" in line for line in lines)
    wait_free(gateway)
    after = httpx.get(gateway.url + "/metrics").text
    assert sample(after, code_429) - sample(before, code_429) >= 3
    assert sample(after, shed) - sample(before, shed) >= 3


def test_a_client_that_leaves_mid_stream_frees_the_slot(stack):
    gateway, fakes = stack
    fakes["llm"].control(hold=True)
    with httpx.Client(timeout=10) as client, client.stream(
            "POST", gateway.url + "/v1/generate", json={"prompt": "bye", "max_tokens": 50}) as r:
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
        assert httpx.post(gateway.url + "/v1/classify", json={"entity_id": "e0001"},
                          timeout=5).status_code == 429
    wait_free(gateway)


def test_the_adaptive_limit_is_a_runtime_lever(stack):
    gateway, _ = stack
    with httpx.Client(base_url=gateway.url, headers=auth(), timeout=5) as admin:
        r = admin.patch("/admin/policy", json={"admission": {
            "max_in_flight": 50, "adaptive_limit": True, "limit_target_latency_s": 0.2}})
        assert r.status_code == 200, r.text
        try:
            for _ in range(5):
                assert httpx.post(gateway.url + "/v1/classify", json={"entity_id": "e0001"},
                                  timeout=5).status_code == 200
            text = httpx.get(gateway.url + "/metrics").text
            assert "# TYPE gateway_concurrency_limit gauge" in text
            assert 1 <= sample(text, "gateway_concurrency_limit ") <= 50
        finally:
            admin.put("/admin/policy", json={})
