"""Fallbacks: default features, cached answer, most frequent class, all flagged degraded."""

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from gameday_services.gateway.fallbacks import (
    DefaultFeatures,
    Fallbacks,
    Prediction,
    PredictionCache,
)
from gameday_services.gateway.policy import FallbackPolicy
from tests.integration.fake_upstreams import (
    CLASSIFIER_A,
    CLASSIFIER_B,
    FEATURES_URL,
    gateway_app,
    in_process_fakes,
)
from tests.procs import TEST_TOKEN


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def prediction(cls=1, label="medium"):
    return Prediction(cls=cls, label=label, probabilities=[0.1, 0.8, 0.1], model_version="v1",
                      replica=CLASSIFIER_A)


def test_default_features_configured_or_running_mean():
    defaults = DefaultFeatures()
    assert defaults.vector(FallbackPolicy()) == [0.0] * 8
    defaults.observe([1.0] * 8)
    defaults.observe([3.0] * 8)
    assert defaults.vector(FallbackPolicy()) == [2.0] * 8
    assert defaults.vector(FallbackPolicy(default_feature_vector=[0.5] * 8)) == [0.5] * 8


def test_cache_is_lru_and_ages_out():
    clock = Clock()
    cache = PredictionCache(clock)
    policy = FallbackPolicy(cache_size=2, cache_max_age_s=10)
    cache.put("e1", prediction(), policy)
    cache.put("e2", prediction(), policy)
    cache.get("e1", policy)
    cache.put("e3", prediction(), policy)
    assert cache.get("e2", policy) is None and cache.get("e1", policy) is not None
    clock.now += 11
    assert cache.get("e1", policy) is None


def test_answer_for_prefers_cache_then_most_frequent_class_each_switchable():
    fallbacks = Fallbacks(Clock())
    policy = FallbackPolicy()
    assert fallbacks.answer_for("e1", policy) is None
    fallbacks.remember("e1", prediction(2, "high"), policy)
    fallbacks.remember("e2", prediction(0, "low"), policy)
    fallbacks.remember("e3", prediction(2, "high"), policy)
    assert fallbacks.answer_for("e2", policy)[1] == "cached_answer"
    found, kind = fallbacks.answer_for("e9", policy)
    assert kind == "most_frequent_class" and found.cls == 2 and found.label == "high"
    off = FallbackPolicy(cached_answer=False, most_frequent_class=False)
    assert fallbacks.answer_for("e2", off) is None


@pytest.fixture
def stack(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    fakes = in_process_fakes()
    registry = CollectorRegistry()
    with TestClient(gateway_app(fakes, registry)) as client:
        yield client, fakes, registry


def classify(client, entity="e0001"):
    r = client.post("/v1/classify", json={"entity_id": entity})
    assert r.status_code == 200, r.text
    return r.json()


def set_status(fakes, urls, status):
    for url in urls:
        fakes[url].state.control.status = status


def test_feature_store_down_answers_with_default_features_flagged(stack):
    client, fakes, registry = stack
    set_status(fakes, [FEATURES_URL], 500)
    body = classify(client)
    assert body["degraded"] is True
    assert body["degraded_reasons"] == ["default_features"]
    sent = (fakes[CLASSIFIER_A].state.control.bodies + fakes[CLASSIFIER_B].state.control.bodies)
    assert sent[-1]["features"] == [0.0] * 8
    assert registry.get_sample_value("gateway_fallbacks_total", {"kind": "default_features"}) == 1


def test_default_vector_from_policy_is_used(stack):
    client, fakes, _ = stack
    r = client.patch("/admin/policy", json={"fallbacks": {"default_feature_vector": [1.0] * 8}},
                     headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    assert r.status_code == 200
    set_status(fakes, [FEATURES_URL], 503)
    classify(client)
    sent = (fakes[CLASSIFIER_A].state.control.bodies + fakes[CLASSIFIER_B].state.control.bodies)
    assert sent[-1]["features"] == [1.0] * 8


def test_stale_features_are_flagged(stack):
    client, fakes, _ = stack
    fakes[FEATURES_URL].state.control.stale = True
    body = classify(client)
    assert body["degraded"] is True and body["degraded_reasons"] == ["stale_features"]


def test_classifier_down_answers_cached_then_most_frequent_class(stack):
    client, fakes, registry = stack
    first = classify(client, "e0001")
    classify(client, "e0001")
    set_status(fakes, [CLASSIFIER_A, CLASSIFIER_B], 500)
    cached = classify(client, "e0001")
    assert cached["degraded"] is True and cached["degraded_reasons"] == ["cached_answer"]
    assert cached["class"] == first["class"] and cached["probabilities"] == first["probabilities"]
    assert cached["replica"] is None
    frequent = classify(client, "e0002")
    assert frequent["degraded_reasons"] == ["most_frequent_class"]
    assert frequent["class"] == first["class"] and frequent["probabilities"] is None
    assert registry.get_sample_value("gateway_fallbacks_total", {"kind": "cached_answer"}) == 1
    assert registry.get_sample_value("gateway_fallbacks_total",
                                     {"kind": "most_frequent_class"}) == 1


def test_both_down_reasons_accumulate(stack):
    client, fakes, _ = stack
    classify(client, "e0005")
    set_status(fakes, [FEATURES_URL, CLASSIFIER_A, CLASSIFIER_B], 500)
    body = classify(client, "e0005")
    assert body["degraded_reasons"] == ["default_features", "cached_answer"]


def test_fallbacks_off_means_an_error(stack):
    client, fakes, _ = stack
    classify(client, "e0001")
    r = client.put("/admin/policy", json={"fallbacks": {"default_features": False,
                                                        "cached_answer": False,
                                                        "most_frequent_class": False}},
                   headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    assert r.status_code == 200
    set_status(fakes, [CLASSIFIER_A, CLASSIFIER_B], 500)
    r = client.post("/v1/classify", json={"entity_id": "e0001"})
    assert r.status_code == 502 and r.json()["upstream"] == "classifier"
    set_status(fakes, [CLASSIFIER_A, CLASSIFIER_B], 200)
    set_status(fakes, [FEATURES_URL], 503)
    r = client.post("/v1/classify", json={"entity_id": "e0001"})
    assert r.status_code == 503 and r.json()["upstream"] == "features"
    assert r.headers["Retry-After"] == "1"

