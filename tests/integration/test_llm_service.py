"""The llm service as a real process on loopback: `python -m gameday_services.llm`."""

import json
import time

import httpx
import pytest

from gameday.engine.exposition import parse, total
from tests.procs import ServiceProcess


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    env = {"LLM_LOAD_TIME_S": "0.6", "LLM_TOKEN_MS": "20", "LLM_KV_SLOTS": "2"}
    proc = ServiceProcess("llm", env=env, log_dir=tmp_path_factory.mktemp("llm"))
    proc.start(wait_ready=False)
    proc.wait_ready("/healthz")
    early = httpx.get(proc.url + "/readyz", timeout=2)
    proc.wait_ready()
    yield proc, early
    proc.stop()


def metric(url: str, name: str) -> float:
    samples, _ = parse(httpx.get(url + "/metrics").text)
    return total(samples, name)


def test_not_ready_while_loading_then_ready(llm):
    proc, early = llm
    assert early.status_code == 503 and "loading" in early.json()["reason"]
    assert httpx.get(proc.url + "/readyz").json() == {"ready": True}


def test_tokens_stream_one_by_one(llm):
    proc, _ = llm
    body = {"prompt": "Four score and", "max_tokens": 20, "seed": 3, "ignore_eos": True}
    arrivals, tokens, done = [], [], None
    with httpx.stream("POST", proc.url + "/v1/generate", json=body, timeout=10) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[len("data: "):]
            if data == "[DONE]":
                break
            event = json.loads(data)
            if "token" in event:
                arrivals.append(time.perf_counter())
                tokens.append(event["token"])
            else:
                done = event
    assert len(tokens) == 20 and done["finish_reason"] == "length"
    # Streamed, not buffered: 20 tokens of 20 ms each arrive spread over time.
    assert arrivals[-1] - arrivals[0] > 0.1
    again = httpx.post(proc.url + "/v1/generate", json={**body, "stream": False}, timeout=10)
    assert again.json()["text"] == "".join(tokens)


def test_disconnect_mid_stream_frees_the_slot(llm):
    proc, _ = llm
    body = {"prompt": "In the beginning", "max_tokens": 500, "ignore_eos": True}
    with httpx.stream("POST", proc.url + "/v1/generate", json=body, timeout=10) as resp:
        lines = resp.iter_lines()  # held, so the connection stays open until the with ends
        assert next(line for line in lines if line.startswith("data: "))
        assert metric(proc.url, "llm_requests_running") == 1
    deadline = time.monotonic() + 5
    while metric(proc.url, "llm_requests_running") != 0:
        assert time.monotonic() < deadline, "the slot of a gone client was never freed"
        time.sleep(0.05)
    assert metric(proc.url, "llm_requests_waiting") == 0


EXPECTED_TYPES = {
    "llm_time_to_first_token_seconds": "histogram",
    "llm_inter_token_latency_seconds": "histogram",
    "llm_e2e_request_latency_seconds": "histogram",
    "llm_request_queue_time_seconds": "histogram",
    "llm_requests_running": "gauge",
    "llm_requests_waiting": "gauge",
    "llm_kv_cache_usage_ratio": "gauge",
    "llm_preemptions_total": "counter",
    "llm_generation_tokens_total": "counter",
    "llm_prompt_tokens_total": "counter",
    "llm_request_success_total": "counter",
    "http_requests_total": "counter",
    "http_request_duration_seconds": "histogram",
}


def test_metrics_name_every_domain_metric_with_its_type(llm):
    proc, _ = llm
    httpx.post(proc.url + "/v1/generate", json={"prompt": "We hold", "max_tokens": 3,
                                                "stream": False}, timeout=10)
    text = httpx.get(proc.url + "/metrics").text
    for name, kind in EXPECTED_TYPES.items():
        assert f"# TYPE {name} {kind}" in text, name
    assert metric(proc.url, "llm_generation_tokens_total") >= 3
    assert metric(proc.url, "llm_time_to_first_token_seconds_count") >= 1
