"""The classifier as a real process on loopback: serving, metrics, and faults over HTTP."""

import re
import time

import httpx
import pytest

from gameday_services.classifier.dataset import make_entity
from tests.procs import ServiceProcess, auth

FEATURES, LABEL = make_entity(3)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    env = {"CLASSIFIER_LOAD_TIME_S": "0.2", "CLASSIFIER_MAX_QUEUE_DELAY_MS": "2"}
    with ServiceProcess("classifier", env=env, log_dir=tmp_path_factory.mktemp("logs")) as proc:
        yield proc.url


@pytest.fixture()
def url(classifier):
    yield classifier
    httpx.delete(classifier + "/admin/faults", headers=auth(), timeout=5)


def predict(url, **body):
    return httpx.post(url + "/v1/predict", json=body or {"features": FEATURES}, timeout=10)


def timed_predict(url) -> float:
    start = time.perf_counter()
    assert predict(url).status_code == 200
    return time.perf_counter() - start


def inject(url, **spec):
    resp = httpx.post(url + "/admin/faults", json=spec, headers=auth(), timeout=5)
    assert resp.status_code == 201, resp.text
    return resp.json()


def wait_for(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not true after {timeout}s")


def test_ready_and_predicting(url):
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(url + "/readyz").json() == {"ready": True}
    resp = predict(url, features=FEATURES, label=LABEL)
    assert resp.status_code == 200
    body = resp.json()
    assert body["model"] == "classifier" and body["version"] == "v1"
    assert len(body["predictions"][0]["probabilities"]) == 3
    assert predict(url, features=FEATURES[:3]).status_code == 422


EXPECTED_TYPES = {
    "model_info": "gauge",
    "model_batch_size": "histogram",
    "model_queue_depth": "gauge",
    "model_inference_duration_seconds": "histogram",
    "model_predictions_total": "counter",
    "accelerator_utilization_ratio": "gauge",
    "accelerator_memory_used_bytes": "gauge",
    "accelerator_temperature_celsius": "gauge",
    "accelerator_xid_errors_total": "counter",
    "http_requests_total": "counter",
    "http_request_duration_seconds": "histogram",
}


def test_metrics_expose_every_named_metric_with_its_type(url):
    predict(url, features=FEATURES, label=LABEL)
    text = httpx.get(url + "/metrics").text
    for name, kind in EXPECTED_TYPES.items():
        assert f"# TYPE {name} {kind}\n" in text, name
    assert re.search(r'^model_info\{model="classifier",version="v1"\} 1\.0$', text, re.M)
    assert re.search(r'^accelerator_memory_used_bytes\{device="0"\} [1-9]', text, re.M)
    assert re.search(r'^model_predictions_total\{model="classifier",outcome="(in)?correct",'
                     r'version="v1"\} [1-9]', text, re.M)
    assert "fault" not in text


def test_a_latency_fault_slows_predictions_until_it_expires(url):
    assert timed_predict(url) < 0.4
    fault = inject(url, type="latency", params={"delay_ms": 500}, route="/v1/predict", ttl_s=2)
    assert timed_predict(url) >= 0.5
    time.sleep(max(0.0, fault["expires_at"] - time.time()) + 0.05)
    assert timed_predict(url) < 0.4
    assert httpx.get(url + "/admin/faults", headers=auth()).json() == {"faults": []}


def test_not_ready_during_a_slow_model_load(url):
    inject(url, type="slow_model_load", params={"load_s": 1.5}, ttl_s=30)
    resp = wait_for(lambda: (r := httpx.get(url + "/readyz")).status_code == 503 and r)
    assert resp.json() == {"ready": False, "reason": "reloading model v1"}
    refused = predict(url)
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
    wait_for(lambda: httpx.get(url + "/readyz").status_code == 200)
    assert predict(url).status_code == 200


def test_deploy_v2_then_roll_back_over_http(url):
    deployed = httpx.post(url + "/admin/model/deploy", json={"version": "v2"}, headers=auth())
    assert deployed.json()["version"] == "v2"
    assert predict(url).json()["version"] == "v2"
    rolled = httpx.post(url + "/admin/model/rollback", headers=auth())
    assert rolled.json() == {"model": "classifier", "version": "v1", "previous": "v2"}
    assert predict(url).json()["version"] == "v1"


def test_cold_start_is_unready_then_ready(tmp_path):
    proc = ServiceProcess("classifier", env={"CLASSIFIER_LOAD_TIME_S": "1.5"}, log_dir=tmp_path)
    proc.start(wait_ready=False)
    try:
        proc.wait_ready("/healthz")
        resp = httpx.get(proc.url + "/readyz")
        assert resp.status_code == 503
        assert resp.json()["reason"] == "loading model v1 (cold start)"
        proc.wait_ready()
        assert predict(proc.url).status_code == 200
    finally:
        proc.stop()
