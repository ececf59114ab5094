"""The foundation as a user meets it: the whole stack on loopback, faults through the CLI,
the metrics each service promises, and `gameday tour` to its end."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gameday.engine.exposition import fetch
from gameday.stack.local import Stack
from gameday.stack.spec import build_spec

# What DESIGN.md's conventions promise per service, with the TYPE each must declare.
HTTP = {"http_requests": "counter", "http_request_duration_seconds": "histogram"}
PROMISED = {
    "gateway": {**HTTP, "gateway_upstream_requests": "counter", "gateway_retries": "counter",
                "gateway_retry_budget_exhausted": "counter", "gateway_circuit_state": "gauge",
                "gateway_shed_requests": "counter", "gateway_fallbacks": "counter",
                "gateway_upstream_ejected": "gauge"},
    "features": {**HTTP, "feature_store_queries": "counter",
                 "feature_store_query_duration_seconds": "histogram"},
    "classifier": {**HTTP, "model_info": "gauge", "model_batch_size": "histogram",
                   "model_queue_depth": "gauge", "model_inference_duration_seconds": "histogram",
                   "model_predictions": "counter", "accelerator_utilization_ratio": "gauge",
                   "accelerator_memory_used_bytes": "gauge",
                   "accelerator_temperature_celsius": "gauge",
                   "accelerator_xid_errors": "counter"},
    "llm": {**HTTP, "llm_time_to_first_token_seconds": "histogram",
            "llm_inter_token_latency_seconds": "histogram",
            "llm_e2e_request_latency_seconds": "histogram",
            "llm_request_queue_time_seconds": "histogram", "llm_requests_running": "gauge",
            "llm_requests_waiting": "gauge", "llm_kv_cache_usage_ratio": "gauge",
            "llm_preemptions": "counter", "llm_generation_tokens": "counter"},
}


def gameday(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gameday.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e") / ".gameday"
    with Stack(build_spec(free_ports=True), home=home) as st:
        yield st


def classify_latency(gateway: str, n: int = 12) -> float:
    times = []
    with httpx.Client(timeout=10) as client:
        for i in range(n):
            t0 = time.perf_counter()
            resp = client.post(f"{gateway}/v1/classify", json={"entity_id": f"e{i:04d}"})
            times.append(time.perf_counter() - t0)
            assert resp.status_code == 200, resp.text
    return statistics.median(times)


def test_classify_returns_a_real_prediction(stack):
    resp = httpx.post(stack.url("gateway") + "/v1/classify", json={"entity_id": "e0042"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["class"] in (0, 1, 2) and body["degraded"] is False
    assert abs(sum(body["probabilities"]) - 1) < 1e-6
    assert body["model_version"] == "v1"


def test_generate_streams_real_tokens(stack):
    payload = {"prompt": "In the beginning", "max_tokens": 12, "seed": 3}
    tokens = []
    with httpx.stream("POST", stack.url("gateway") + "/v1/generate", json=payload,
                      timeout=10) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data:") and '"token"' in line:
                tokens.append(json.loads(line[5:])["token"])
    assert len(tokens) == 12
    assert "".join(tokens).strip()


def test_every_service_exposes_its_promised_metrics_with_types(stack):
    for proc in stack.state().processes:
        _, types = fetch(proc.url)
        for name, kind in PROMISED[proc.name].items():
            assert types.get(name) == kind, f"{proc.id}: {name} has type {types.get(name)}"


def test_latency_fault_with_ttl_raises_gateway_latency_then_vanishes(stack):
    cwd = stack.run.home.parent
    gateway = stack.url("gateway")
    baseline = classify_latency(gateway)
    added = gameday(cwd, "faults", "add", "classifier", "latency", "--param", "delay_ms=400",
                    "--ttl", "5s", "--replica", "all")
    assert added.returncode == 0, added.stderr
    t_added = time.monotonic()
    during = classify_latency(gateway, n=6)
    assert during >= 0.4 > baseline, (baseline, during)
    # No further call: the TTL alone ends it.
    time.sleep(max(0.0, 5.3 - (time.monotonic() - t_added)))
    listed = gameday(cwd, "faults", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "latency" not in listed.stdout
    assert classify_latency(gateway) < 0.4


def test_admin_api_without_token_is_401_on_every_service(stack):
    for proc in stack.state().processes:
        assert httpx.get(proc.url + "/admin/faults").status_code == 401, proc.id


@pytest.mark.slow
def test_tour_command_runs_to_its_end_and_leaves_nothing(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gameday.cli.main", "tour",
                             "--requests", "120", "--streams", "3"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stack stopped" in result.stdout
    assert "key metrics per process" in result.stdout
    # a value in ms carries its unit; its label does not claim seconds
    assert "_s=" not in result.stdout and "ttft_p50=" in result.stdout
    state = json.loads(next((tmp_path / ".gameday" / "runs").iterdir())
                       .joinpath("stack.json").read_text())
    for proc in state["processes"]:
        if proc["pid"]:
            with pytest.raises(ProcessLookupError):
                os.kill(proc["pid"], 0)
