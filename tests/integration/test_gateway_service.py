"""The real gateway process in front of stand-in upstream processes, all on loopback."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time

import httpx
import pytest

from tests.procs import ROOT, ServiceProcess, auth, free_port

DEFAULTS = {"status": 200, "delay_s": 0, "retry_after": None, "hold": False,
            "token_delay_s": 0, "stale": False}


class FakeProcess:
    """``python -m tests.integration.fake_upstreams`` on a free port."""

    def __init__(self, kind: str, name: str = "0") -> None:
        self.kind, self.name, self.port = kind, name, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.fake_upstreams", "--kind", self.kind,
             "--port", str(self.port), "--name", self.name],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"fake {self.kind} exited"
            try:
                if httpx.get(self.url + "/readyz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise TimeoutError(f"fake {self.kind} not ready")

    def control(self, **changes) -> None:
        httpx.post(self.url + "/_control", json=changes, timeout=5).raise_for_status()

    def release(self) -> None:
        httpx.post(self.url + "/_release", timeout=5).raise_for_status()

    def seen(self) -> dict:
        return httpx.get(self.url + "/_seen", timeout=5).json()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def gateway_with_fakes(log_dir, classifiers=("a", "b"), **env):
    """(gateway process, fakes by name) with stand-in upstream processes: the feature store,
    one classifier per name in ``classifiers`` and the llm; ``env`` adds GATEWAY_ settings."""
    fakes = {"features": FakeProcess("features"),
             **{name: FakeProcess("classifier", name) for name in classifiers},
             "llm": FakeProcess("llm")}
    gateway = ServiceProcess("gateway", log_dir=log_dir, env={
        "GATEWAY_FEATURES_URL": fakes["features"].url,
        "GATEWAY_CLASSIFIER_URLS": ",".join(fakes[name].url for name in classifiers),
        "GATEWAY_LLM_URL": fakes["llm"].url,
        **env,
    })
    try:
        for fake in fakes.values():
            fake.start()
        for fake in fakes.values():
            fake.wait_ready()
        gateway.start()
        yield gateway, fakes
    finally:
        gateway.stop()
        for fake in fakes.values():
            fake.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with gateway_with_fakes(tmp_path_factory.mktemp("gateway-logs"),
                            GATEWAY_RETRY__BACKOFF_BASE_S="0.005") as running:
        yield running


@pytest.fixture(autouse=True)
def reset(stack):
    gateway, fakes = stack
    for fake in fakes.values():
        fake.control(**DEFAULTS)
    with httpx.Client(base_url=gateway.url, headers=auth(), timeout=5) as admin:
        assert admin.put("/admin/policy", json={}).status_code == 200
        admin.put("/admin/upstreams/features", json={"urls": [fakes["features"].url]})
        for index in ("0", "1"):
            admin.post(f"/admin/upstreams/classifier/{index}/uneject")
        for name in ("features", "classifier", "llm"):
            admin.put(f"/admin/upstreams/{name}/circuit", json={"state": "closed"})
    yield


def classify(gateway, entity="e0001", **kwargs):
    return httpx.post(gateway.url + "/v1/classify", json={"entity_id": entity}, timeout=10,
                      **kwargs)


def test_classify_end_to_end(stack):
    gateway, fakes = stack
    r = classify(gateway, "e0002")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["entity_id"] == "e0002"
    assert body["label"] in ("low", "medium", "high") and len(body["probabilities"]) == 3
    assert body["model_version"] == "v1"
    assert body["degraded"] is False
    assert body["replica"] in (fakes["a"].url, fakes["b"].url)
    assert classify(gateway, "e9999").status_code == 404


def test_request_id_reaches_every_upstream(stack):
    gateway, fakes = stack
    r = classify(gateway, headers={"x-request-id": "it-rid-0001"})
    assert r.headers["x-request-id"] == "it-rid-0001"
    assert "it-rid-0001" in fakes["features"].seen()["request_ids"]
    seen = fakes["a"].seen()["request_ids"] + fakes["b"].seen()["request_ids"]
    assert "it-rid-0001" in seen


def test_failing_replica_is_ejected_and_traffic_goes_to_the_other(stack):
    gateway, fakes = stack
    fakes["b"].control(status=500)
    for i in range(20):
        assert classify(gateway, f"e000{i % 5 + 1}").status_code == 200
    upstreams = httpx.get(gateway.url + "/admin/upstreams", headers=auth()).json()["upstreams"]
    replicas = {r["url"]: r for r in upstreams["classifier"]["replicas"]}
    assert replicas[fakes["b"].url]["ejected"] is True
    assert replicas[fakes["a"].url]["ejected"] is False
    metrics = httpx.get(gateway.url + "/metrics").text
    assert (f'gateway_upstream_ejected{{endpoint="{fakes["b"].url}",upstream="classifier"}} 1.0'
            in metrics)
    calls_b = fakes["b"].seen()["calls"]
    for i in range(10):
        body = classify(gateway, f"e000{i % 5 + 1}").json()
        assert body["replica"] == fakes["a"].url and body["degraded"] is False
    assert fakes["b"].seen()["calls"] == calls_b


def test_feature_store_down_gives_a_degraded_answer(stack):
    gateway, _ = stack
    dead = f"http://127.0.0.1:{free_port()}"
    r = httpx.put(gateway.url + "/admin/upstreams/features", json={"urls": [dead]},
                  headers=auth())
    assert r.status_code == 200
    for _ in range(3):
        r = classify(gateway)
        assert r.status_code == 200
        assert r.json()["degraded"] is True
        assert "default_features" in r.json()["degraded_reasons"]


def data_lines(lines):
    for line in lines:
        if line.startswith("data: "):
            yield json.loads(line[len("data: "):])


def test_generate_is_streamed_token_by_token(stack):
    gateway, fakes = stack
    fakes["llm"].control(hold=True)
    with httpx.Client(timeout=10) as client, client.stream(
            "POST", gateway.url + "/v1/generate", json={"prompt": "hi", "max_tokens": 3},
            headers={"x-request-id": "it-gen-1"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = data_lines(r.iter_lines())
        # The llm holds back every token after the first: it arrives on its own.
        assert next(events)["token"] == "w0 "
        assert fakes["llm"].seen()["completed"] == 0
        fakes["llm"].release()
        rest = list(events)
    assert [e.get("token") for e in rest] == ["w1 ", "w2 ", None]
    assert rest[-1]["done"] is True
    assert "it-gen-1" in fakes["llm"].seen()["request_ids"]


def test_client_disconnect_closes_the_upstream_stream(stack):
    gateway, fakes = stack
    fakes["llm"].control(hold=True)
    before = fakes["llm"].seen()["cancelled"]
    with httpx.Client(timeout=10) as client, client.stream(
            "POST", gateway.url + "/v1/generate", json={"prompt": "bye", "max_tokens": 50}) as r:
        assert next(data_lines(r.iter_lines()))["token"] == "w0 "
    deadline = time.monotonic() + 10
    while fakes["llm"].seen()["cancelled"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fakes["llm"].seen()["cancelled"] == before + 1


def test_llm_queue_full_is_passed_on_as_503_with_retry_after(stack):
    gateway, fakes = stack
    fakes["llm"].control(status=503, retry_after="9")
    r = httpx.post(gateway.url + "/v1/generate", json={"prompt": "hi"}, timeout=10)
    assert r.status_code == 503 and r.headers["retry-after"] == "9"


def test_admin_api_needs_the_token(stack):
    gateway, _ = stack
    assert httpx.get(gateway.url + "/admin/policy").status_code == 401
    assert httpx.patch(gateway.url + "/admin/policy", json={}).status_code == 401
    r = httpx.patch(gateway.url + "/admin/policy", json={"retry": {"max_attempts": 0}},
                    headers=auth())
    assert r.status_code == 422
    assert "'retry.max_attempts'" in r.json()["detail"] and "got 0" in r.json()["detail"]


def test_metrics_carry_the_gateway_families(stack):
    gateway, _ = stack
    classify(gateway)
    text = httpx.get(gateway.url + "/metrics").text
    for family, kind in [
        ("gateway_upstream_requests_total", "counter"),
        ("gateway_upstream_request_duration_seconds", "histogram"),
        ("gateway_retries_total", "counter"),
        ("gateway_retry_budget_exhausted_total", "counter"),
        ("gateway_circuit_state", "gauge"),
        ("gateway_shed_requests_total", "counter"),
        ("gateway_fallbacks_total", "counter"),
        ("gateway_upstream_ejected", "gauge"),
        ("gateway_ejections_total", "counter"),
        ("http_requests_total", "counter"),
    ]:
        assert f"# TYPE {family} {kind}" in text, family
    assert 'gateway_upstream_requests_total{outcome="success",upstream="classifier"}' in text
    assert 'http_requests_total{code="200",method="POST",route="/v1/classify",' \
           'service="gateway"}' in text
