"""POST /v1/classify against in-process fakes: answers, errors, retries, breaker, request id."""

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from tests.integration.fake_upstreams import (
    CLASSIFIER_A,
    CLASSIFIER_B,
    FEATURES_URL,
    gateway_app,
    in_process_fakes,
)
from tests.procs import TEST_TOKEN


@pytest.fixture
def fakes():
    return in_process_fakes()


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def make_client(monkeypatch, fakes, registry):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    clients = []

    def make(**settings):
        client = TestClient(gateway_app(fakes, registry, **settings))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def sample(registry, name, **labels):
    return registry.get_sample_value(name, labels) or 0.0


def test_classify_answers_with_class_label_probabilities_and_replica(make_client):
    client = make_client()
    r = client.post("/v1/classify", json={"entity_id": "e0001"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["entity_id"] == "e0001"
    assert body["class"] in (0, 1, 2)
    assert body["label"] in ("low", "medium", "high")
    assert len(body["probabilities"]) == 3
    assert body["model_version"] == "v1"
    assert body["degraded"] is False and body["degraded_reasons"] == []
    assert body["replica"] in (CLASSIFIER_A, CLASSIFIER_B)


def test_label_is_passed_on_as_a_canary(make_client, fakes):
    client = make_client()
    client.post("/v1/classify", json={"entity_id": "e0002", "label": 1})
    bodies = fakes[CLASSIFIER_A].state.control.bodies + fakes[CLASSIFIER_B].state.control.bodies
    assert bodies[-1]["label"] == 1 and len(bodies[-1]["features"]) == 8


def test_unknown_entity_is_a_404_not_a_fallback(make_client, registry):
    client = make_client()
    r = client.post("/v1/classify", json={"entity_id": "e9999"})
    assert r.status_code == 404
    assert r.json()["detail"] == "unknown entity 'e9999'"
    assert sample(registry, "gateway_fallbacks_total", kind="default_features") == 0
    assert sample(registry, "gateway_upstream_requests_total",
                  upstream="features", outcome="success") == 1


def test_bad_input_is_a_422(make_client):
    client = make_client()
    assert client.post("/v1/classify", json={"entity_id": "../etc"}).status_code == 422
    assert client.post("/v1/classify", json={}).status_code == 422


def test_request_id_is_forwarded_to_every_upstream(make_client, fakes):
    client = make_client()
    r = client.post("/v1/classify", json={"entity_id": "e0001"},
                    headers={"x-request-id": "req-42"})
    assert r.headers["x-request-id"] == "req-42"
    assert fakes[FEATURES_URL].state.control.request_ids == ["req-42"]
    seen = (fakes[CLASSIFIER_A].state.control.request_ids
            + fakes[CLASSIFIER_B].state.control.request_ids)
    assert seen == ["req-42"]


def test_a_503_is_retried_on_the_other_replica_within_the_budget(make_client, fakes, registry):
    client = make_client(retry={"budget_min_retries": 3, "budget_ratio": 0.1})
    fakes[CLASSIFIER_A].state.control.status = 503
    for _ in range(3):  # round robin sends each first attempt to A here
        r = client.post("/v1/classify", json={"entity_id": "e0003"})
        assert r.status_code == 200
        assert r.json()["replica"] == CLASSIFIER_B
        assert r.json()["degraded"] is False
    assert sample(registry, "gateway_retries_total", upstream="classifier") == 3
    assert sample(registry, "gateway_upstream_requests_total",
                  upstream="classifier", outcome="error") == 3
    # 4 requests allow 0.1 * 4 + 3 retries: the budget is spent, the cached answer is used
    r = client.post("/v1/classify", json={"entity_id": "e0003"})
    assert r.status_code == 200
    assert r.json()["degraded"] is True
    assert r.json()["degraded_reasons"] == ["cached_answer"]
    assert sample(registry, "gateway_retry_budget_exhausted_total", upstream="classifier") == 1


def test_a_500_is_not_retried(make_client, fakes, registry):
    client = make_client(fallbacks={"cached_answer": False, "most_frequent_class": False})
    for app in (fakes[CLASSIFIER_A], fakes[CLASSIFIER_B]):
        app.state.control.status = 500
    r = client.post("/v1/classify", json={"entity_id": "e0003"})
    assert r.status_code == 502
    assert r.json()["upstream"] == "classifier"
    assert sample(registry, "gateway_retries_total", upstream="classifier") == 0


def test_open_circuit_fails_fast_and_is_exported(make_client, fakes, registry):
    client = make_client(breaker={"consecutive_failures": 2, "cooldown_s": 60},
                         retry={"max_attempts": 1},
                         fallbacks={"cached_answer": False, "most_frequent_class": False})
    for app in (fakes[CLASSIFIER_A], fakes[CLASSIFIER_B]):
        app.state.control.status = 503
        app.state.control.retry_after = "3"
    for _ in range(2):
        assert client.post("/v1/classify", json={"entity_id": "e0001"}).status_code == 503
    calls = fakes[CLASSIFIER_A].state.control.calls + fakes[CLASSIFIER_B].state.control.calls
    r = client.post("/v1/classify", json={"entity_id": "e0001"})
    assert r.status_code == 503
    assert r.json()["reason"] == "circuit_open"
    assert "Retry-After" in r.headers
    assert calls == fakes[CLASSIFIER_A].state.control.calls + \
        fakes[CLASSIFIER_B].state.control.calls
    assert sample(registry, "gateway_circuit_state", upstream="classifier") == 2
    assert sample(registry, "gateway_upstream_requests_total",
                  upstream="classifier", outcome="rejected") == 1


def test_upstream_retry_after_is_passed_on(make_client, fakes):
    client = make_client(retry={"max_attempts": 1},
                         fallbacks={"cached_answer": False, "most_frequent_class": False})
    for app in (fakes[CLASSIFIER_A], fakes[CLASSIFIER_B]):
        app.state.control.status = 503
        app.state.control.retry_after = "7"
    r = client.post("/v1/classify", json={"entity_id": "e0001"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "7"


def test_failing_replica_is_ejected_and_exported(make_client, fakes, registry):
    client = make_client()
    fakes[CLASSIFIER_B].state.control.status = 500
    for _ in range(20):
        assert client.post("/v1/classify", json={"entity_id": "e0004"}).status_code == 200
    assert sample(registry, "gateway_upstream_ejected",
                  upstream="classifier", endpoint=CLASSIFIER_B) == 1
    assert sample(registry, "gateway_ejections_total", upstream="classifier") == 1
    calls = fakes[CLASSIFIER_B].state.control.calls
    for _ in range(5):
        r = client.post("/v1/classify", json={"entity_id": "e0004"})
        assert r.json()["replica"] == CLASSIFIER_A and not r.json()["degraded"]
    assert fakes[CLASSIFIER_B].state.control.calls == calls


def test_generated_request_id_is_forwarded_too(make_client, fakes):
    client = make_client()
    r = client.post("/v1/classify", json={"entity_id": "e0001"})
    rid = r.headers["x-request-id"]
    assert rid and fakes[FEATURES_URL].state.control.request_ids == [rid]


def test_openapi_documents_the_public_api(make_client):
    client = make_client()
    schema = client.get("/openapi.json").json()
    assert {"/v1/classify", "/v1/generate", "/admin/policy", "/admin/upstreams"} <= set(
        schema["paths"])
    example = schema["components"]["schemas"]["ClassifyRequest"]["properties"]["entity_id"]
    assert example["examples"] == ["e0001"]


def test_classifier_422_is_the_clients_error_not_a_fallback(make_client, registry):
    client = make_client()
    client.post("/v1/classify", json={"entity_id": "e0001"})
    r = client.post("/v1/classify", json={"entity_id": "e0001", "label": 7})
    assert r.status_code == 422
    assert r.json()["detail"] == "label 7 out of range"
    assert sample(registry, "gateway_fallbacks_total", kind="cached_answer") == 0
    assert sample(registry, "gateway_retries_total", upstream="classifier") == 0
