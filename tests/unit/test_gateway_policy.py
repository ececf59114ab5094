"""Levers: settings from the environment, policy validation, the admin API."""

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from gameday.errors import ValidationError
from gameday_services.gateway.policy import Policy, validate_policy_update
from gameday_services.gateway.settings import Settings
from tests.integration.fake_upstreams import (
    CLASSIFIER_A,
    CLASSIFIER_B,
    gateway_app,
    in_process_fakes,
)
from tests.procs import TEST_TOKEN, auth


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("GATEWAY_CLASSIFIER_URLS", "http://127.0.0.1:9002/, http://127.0.0.1:9003")
    monkeypatch.setenv("GATEWAY_RETRY__MAX_ATTEMPTS", "2")
    monkeypatch.setenv("GATEWAY_ADMISSION__SHED_STATUS", "503")
    monkeypatch.setenv("GATEWAY_FEATURES_URL", "http://127.0.0.1:9001/")
    settings = Settings()
    assert settings.port == 8080
    assert settings.classifier_urls == ["http://127.0.0.1:9002", "http://127.0.0.1:9003"]
    assert settings.features_url == "http://127.0.0.1:9001"
    policy = settings.policy()
    assert policy.retry.max_attempts == 2 and policy.admission.shed_status == 503
    assert policy.balancing.base_ejection_s == 30 and policy.balancing.max_ejection_percent == 50


def test_settings_empty_classifier_list(monkeypatch):
    monkeypatch.setenv("GATEWAY_CLASSIFIER_URLS", "")
    assert Settings().classifier_urls == []


@pytest.mark.parametrize("patch,message", [
    ({"retry": {"max_attempts": 50}},
     "policy: field 'retry.max_attempts': Input should be less than or equal to 10, got 50"),
    ({"admission": {"shed_status": 500}},
     "policy: field 'admission.shed_status': Input should be 429 or 503, got 500"),
    ({"breaker": {"cooldown": 1}},
     "policy: field 'breaker.cooldown': Extra inputs are not permitted, got 1"),
    ({"fallbacks": {"default_feature_vector": [1, 2]}},
     "policy: field 'fallbacks.default_feature_vector': Value error, needs 8 values, got 2"),
    ({"balancing": {"strategy": "random"}},
     "policy: field 'balancing.strategy': Input should be 'round_robin', 'least_outstanding' "
     "or 'power_of_two', got 'random'"),
])
def test_validation_names_field_and_value(patch, message):
    with pytest.raises(ValidationError) as err:
        validate_policy_update(Policy(), patch)
    assert str(err.value).startswith(message)


def test_partial_update_keeps_the_rest():
    base = Policy(retry={"max_attempts": 2, "budget_ratio": 0.2})
    updated = validate_policy_update(base, {"retry": {"max_attempts": 4}})
    assert updated.retry.max_attempts == 4 and updated.retry.budget_ratio == 0.2
    assert updated.breaker == base.breaker


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    app = gateway_app(in_process_fakes(), CollectorRegistry(), retry={"max_attempts": 2})
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("method,path", [
    ("GET", "/admin/policy"), ("PATCH", "/admin/policy"), ("PUT", "/admin/policy"),
    ("GET", "/admin/upstreams"), ("PUT", "/admin/upstreams/classifier"),
    ("POST", "/admin/upstreams/classifier/0/eject"),
    ("POST", "/admin/upstreams/classifier/0/uneject"),
])
def test_admin_needs_the_token(client, method, path):
    assert client.request(method, path, json={}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.request(method, path, json={}, headers=wrong).status_code == 401


def test_patch_then_put_resets_to_the_start_policy(client):
    assert client.get("/admin/policy", headers=auth()).json()["retry"]["max_attempts"] == 2
    r = client.patch("/admin/policy", json={"retry": {"max_attempts": 5}}, headers=auth())
    assert r.status_code == 200 and r.json()["retry"]["max_attempts"] == 5
    r = client.patch("/admin/policy", json={"admission": {"max_in_flight": 10}}, headers=auth())
    assert r.json()["retry"]["max_attempts"] == 5 and r.json()["admission"]["max_in_flight"] == 10
    r = client.put("/admin/policy", json={}, headers=auth())
    assert r.json()["retry"]["max_attempts"] == 2 and r.json()["admission"]["max_in_flight"] == 256


def test_bad_update_is_a_422_naming_field_and_value_and_changes_nothing(client):
    r = client.patch("/admin/policy", json={"retry": {"budget_ratio": 3}}, headers=auth())
    assert r.status_code == 422
    assert r.json()["detail"] == ("policy: field 'retry.budget_ratio': Input should be less "
                                  "than or equal to 1, got 3")
    r = client.patch("/admin/policy", json=[1, 2], headers=auth())
    assert r.status_code == 422 and "must be a JSON object" in r.json()["detail"]
    assert client.get("/admin/policy", headers=auth()).json()["retry"]["budget_ratio"] == 0.1


def test_upstreams_listing_and_manual_ejection(client):
    r = client.get("/admin/upstreams", headers=auth())
    classifier = r.json()["upstreams"]["classifier"]
    assert [x["url"] for x in classifier["replicas"]] == [CLASSIFIER_A, CLASSIFIER_B]
    assert classifier["circuit"]["state"] == "closed"
    r = client.post("/admin/upstreams/classifier/1/eject", headers=auth())
    assert r.status_code == 200 and r.json()["replica"]["ejected"] is True
    r = client.post(f"/admin/upstreams/classifier/{CLASSIFIER_A}/eject", headers=auth())
    assert r.status_code == 409 and "at least one replica" in r.json()["detail"]
    for _ in range(4):
        body = client.post("/v1/classify", json={"entity_id": "e0001"}).json()
        assert body["replica"] == CLASSIFIER_A
    r = client.post("/admin/upstreams/classifier/classifier-b.test/uneject", headers=auth())
    assert r.status_code == 200 and r.json()["changed"] is True
    assert client.post("/admin/upstreams/classifier/7/eject", headers=auth()).status_code == 404
    assert client.post("/admin/upstreams/nope/0/eject", headers=auth()).status_code == 404


def test_set_replica_list_at_runtime(client):
    new = "http://classifier-c.test"
    r = client.put("/admin/upstreams/classifier", json={"urls": [CLASSIFIER_A, new]},
                   headers=auth())
    assert r.status_code == 200
    assert [x["url"] for x in r.json()["replicas"]] == [CLASSIFIER_A, new]
    r = client.put("/admin/upstreams/classifier", json={"urls": ["ftp://x"]}, headers=auth())
    assert r.status_code == 422
    assert r.json()["detail"] == ("upstream 'classifier': field 'urls.0': must be an http(s) "
                                  "URL, got 'ftp://x'")
    assert client.put("/admin/upstreams/classifier", json={"urls": []},
                      headers=auth()).status_code == 422


def test_circuit_can_be_forced(client):
    r = client.put("/admin/upstreams/features/circuit", json={"state": "open"}, headers=auth())
    assert r.status_code == 200 and r.json()["state"] == "open"
    body = client.post("/v1/classify", json={"entity_id": "e0001"}).json()
    assert body["degraded_reasons"] == ["default_features"]
    r = client.put("/admin/upstreams/features/circuit", json={"state": "closed"}, headers=auth())
    assert r.json()["state"] == "closed"


def test_readiness_needs_a_classifier_replica_only(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    with TestClient(gateway_app({}, CollectorRegistry())) as c:  # no upstream answers
        assert c.get("/readyz").json() == {"ready": True}
        assert c.get("/healthz").json() == {"status": "ok"}
    with TestClient(gateway_app({}, CollectorRegistry(), classifier_urls=[])) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False
