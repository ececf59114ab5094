"""The classifier's HTTP API in process: prediction, validation, batching, versions, faults."""

import asyncio
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from gameday_services.classifier.app import create_app
from gameday_services.classifier.dataset import make_entity
from gameday_services.classifier.settings import Settings as ClassifierSettings

TOKEN = "unit-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VECTOR = [0.1, -0.2, 0.3, 0.0, 1.0, -1.0, 0.5, 2.0]


@pytest.fixture(autouse=True)
def admin_token(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("GAMEDAY_ADMIN_TOKEN_FILE", raising=False)
    monkeypatch.delenv("GAMEDAY_FAULTS_FILE", raising=False)


def make_app(**overrides):
    registry = CollectorRegistry()
    defaults = {"load_time_s": 0, "compute_base_ms": 1, "compute_per_item_ms": 0,
                "max_queue_delay_ms": 0}
    settings = ClassifierSettings(**{**defaults, **overrides})
    return create_app(settings, registry), registry


@pytest.fixture()
def served():
    app, registry = make_app()
    with TestClient(app) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200)
        yield client, registry


def wait_until(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"not true after {timeout}s")


def predictions(registry, outcome, version="v1"):
    return registry.get_sample_value(
        "model_predictions_total",
        {"model": "classifier", "version": version, "outcome": outcome}) or 0.0


def add_fault(client, **spec):
    resp = client.post("/admin/faults", json={"ttl_s": 30, **spec}, headers=AUTH)
    assert resp.status_code == 201, resp.text


async def with_client(app, scenario):
    """Run ``scenario(client)`` against the app with its lifespan, concurrency allowed."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://classifier") as c:
            for _ in range(250):
                if (await c.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.02)
            return await scenario(c)


# -- prediction ------------------------------------------------------------------------
def test_predict_one_vector(served):
    client, _ = served
    resp = client.post("/v1/predict", json={"features": VECTOR})
    assert resp.status_code == 200
    body = resp.json()
    assert body["model"] == "classifier" and body["version"] == "v1"
    [pred] = body["predictions"]
    assert pred["class"] in (0, 1, 2)
    assert pred["label"] == ("low", "medium", "high")[pred["class"]]
    assert sum(pred["probabilities"]) == pytest.approx(1.0)
    assert max(pred["probabilities"]) == pred["probabilities"][pred["class"]]


def test_predict_a_batch_answers_in_order(served):
    client, _ = served
    entities = [make_entity(i) for i in range(6)]
    resp = client.post("/v1/predict", json={"instances": [f for f, _ in entities]})
    assert resp.status_code == 200
    classes = [p["class"] for p in resp.json()["predictions"]]
    singles = [client.post("/v1/predict", json={"features": f}).json()["predictions"][0]["class"]
               for f, _ in entities]
    assert classes == singles


@pytest.mark.parametrize("body, where", [
    ({"features": VECTOR[:7]}, "features"),
    ({"features": VECTOR + [1.0]}, "features"),
    ({"features": ["1.0"] * 8}, "features"),
    ({"features": [True] * 8}, "features"),
    ({"features": [None] * 8}, "features"),
    ({"features": [1e300] + VECTOR[1:]}, "features"),
    ({"instances": []}, "instances"),
    ({"instances": [VECTOR, VECTOR[:3]]}, "instances"),
    ({}, "features"),
    ({"features": VECTOR, "instances": [VECTOR]}, "instances"),
    ({"features": VECTOR, "label": 3}, "label"),
    ({"features": VECTOR, "label": "high"}, "label"),
    ({"instances": [VECTOR], "labels": [0, 1]}, "labels"),
    ({"features": VECTOR, "extra": 1}, "extra"),
    ({"instances": [VECTOR] * 17}, "max_batch_size 16"),
])
def test_bad_input_is_a_422_naming_the_problem(served, body, where):
    client, _ = served
    resp = client.post("/v1/predict", json=body)
    assert resp.status_code == 422
    assert where in resp.text


@pytest.mark.parametrize("raw", [b'{"features": [NaN, 1, 1, 1, 1, 1, 1, 1]}',
                                 b'{"features": [Infinity, 1, 1, 1, 1, 1, 1, 1]}',
                                 b'{"features": [1, 2', b'not json', b''])
def test_malformed_bodies_are_422_never_500(served, raw):
    client, _ = served
    resp = client.post("/v1/predict", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert "detail" in resp.json()


FLOATS = st.floats(allow_nan=False, allow_infinity=False)  # JSON itself has no NaN
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | FLOATS | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=10) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=30,
)
BODIES = JSON | st.fixed_dictionaries({}, optional={
    "features": JSON | st.lists(FLOATS, min_size=7, max_size=9),
    "instances": JSON | st.lists(st.lists(FLOATS, min_size=8, max_size=8), max_size=20),
    "label": JSON, "labels": JSON,
})


def test_any_body_gets_an_answer_never_a_500(served):
    client, _ = served

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(BODIES)
    def check(body):
        resp = client.post("/v1/predict", json=body)
        assert resp.status_code in (200, 422), (body, resp.text)
        resp.json()

    check()


def test_openapi_documents_the_api_with_examples(served):
    client, _ = served
    spec = client.get("/openapi.json").json()
    assert {"/v1/predict", "/healthz", "/readyz", "/admin/model", "/admin/model/deploy",
            "/admin/model/rollback"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["PredictRequest"]["examples"][0]["features"]


# -- canaries and quality ------------------------------------------------------------------
def test_labelled_canaries_count_correct_and_incorrect(served):
    client, registry = served
    features, label = make_entity(7)
    predicted = client.post("/v1/predict", json={"features": features}).json()
    assert predictions(registry, "unlabelled") == 1
    cls = predicted["predictions"][0]["class"]
    client.post("/v1/predict", json={"features": features, "label": cls})
    client.post("/v1/predict", json={"features": features, "label": (cls + 1) % 3})
    client.post("/v1/predict", json={"instances": [features, features],
                                     "labels": [cls, None]})
    assert predictions(registry, "correct") == 2
    assert predictions(registry, "incorrect") == 1
    assert predictions(registry, "unlabelled") == 2
    assert predictions(registry, "error") == 0


def test_a_bad_rollout_shows_in_canary_outcomes_while_http_says_200(served):
    client, registry = served
    entities = [make_entity(i) for i in range(120)]

    def canary_round():
        for f, label in entities:
            assert client.post("/v1/predict", json={"features": f, "label": label}).status_code \
                == 200

    canary_round()
    assert client.post("/admin/model/deploy", json={"version": "v2"}, headers=AUTH).status_code \
        == 200
    canary_round()
    good = predictions(registry, "correct", "v1") / len(entities)
    bad = predictions(registry, "correct", "v2") / len(entities)
    assert good > 0.8 and bad < 0.5


def test_bad_model_nan_answers_200_with_nulls_and_counts_errors(served):
    client, registry = served
    add_fault(client, type="bad_model", params={"mode": "nan"})
    resp = client.post("/v1/predict", json={"features": VECTOR, "label": 1})
    assert resp.status_code == 200
    assert resp.json()["predictions"] == [
        {"class": -1, "label": "invalid", "probabilities": None}]
    assert predictions(registry, "error") == 1
    assert predictions(registry, "correct") + predictions(registry, "incorrect") == 0


def test_bad_model_degraded_gets_many_canaries_wrong(served):
    client, registry = served
    add_fault(client, type="bad_model", params={"mode": "degraded"})
    for i in range(150):
        features, label = make_entity(i)
        resp = client.post("/v1/predict", json={"features": features, "label": label})
        assert resp.status_code == 200 and resp.json()["version"] == "v1"
    assert predictions(registry, "correct") / 150 < 0.7
    assert predictions(registry, "error") == 0


def test_xid_errors_fail_inferences_with_a_500(served):
    client, registry = served
    add_fault(client, type="xid_errors", params={"xid": 79, "failed_fraction": 1.0})
    resp = client.post("/v1/predict", json={"instances": [VECTOR, VECTOR]})
    assert resp.status_code == 500
    assert resp.json() == {"error": "accelerator error (XID 79)"}
    assert predictions(registry, "error") == 2
    wait_until(lambda: (registry.get_sample_value("accelerator_xid_errors_total",
                                                  {"device": "0"}) or 0) > 0)


# -- batching and back-pressure --------------------------------------------------------------
def test_concurrent_requests_are_served_in_shared_batches():
    app, registry = make_app(max_queue_delay_ms=300, max_batch_size=8)

    async def scenario(client):
        return await asyncio.gather(*[client.post("/v1/predict", json={"features": VECTOR})
                                      for _ in range(6)])

    responses = asyncio.run(with_client(app, scenario))
    assert [r.status_code for r in responses] == [200] * 6
    batches = registry.get_sample_value("model_batch_size_count", {"model": "classifier"})
    singles = registry.get_sample_value("model_batch_size_bucket",
                                        {"model": "classifier", "le": "1.0"})
    assert batches < 6 and batches - singles >= 1  # at least one batch held several requests
    assert registry.get_sample_value("model_batch_size_sum", {"model": "classifier"}) == 6


def test_a_full_queue_answers_503_with_retry_after():
    app, _ = make_app(max_batch_size=1, max_queue_size=1, max_queue_delay_ms=0,
                      compute_base_ms=500, retry_after_s=2)

    async def scenario(client):
        return await asyncio.gather(*[client.post("/v1/predict", json={"features": VECTOR})
                                      for _ in range(4)])

    responses = asyncio.run(with_client(app, scenario))
    codes = sorted(r.status_code for r in responses)
    assert codes[0] == 200 and codes[-1] == 503
    refused = [r for r in responses if r.status_code == 503]
    assert all(r.headers["retry-after"] == "2" for r in refused)
    assert all("queue full" in r.json()["error"] for r in refused)


# -- readiness and model versions ----------------------------------------------------------------
def test_not_ready_while_the_model_loads_at_start():
    app, _ = make_app(load_time_s=0.5)
    with TestClient(app) as client:
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert resp.json() == {"ready": False, "reason": "loading model v1 (cold start)"}
        assert client.get("/healthz").json() == {"status": "ok"}
        refused = client.post("/v1/predict", json={"features": VECTOR})
        assert refused.status_code == 503 and "retry-after" in refused.headers
        wait_until(lambda: client.get("/readyz").status_code == 200)
        assert client.post("/v1/predict", json={"features": VECTOR}).status_code == 200


def test_slow_model_load_makes_the_replica_unready_for_a_while(served):
    client, _ = served
    add_fault(client, type="slow_model_load", params={"load_s": 0.6})
    wait_until(lambda: client.get("/readyz").status_code == 503)
    assert client.get("/readyz").json()["reason"] == "reloading model v1"
    refused = client.post("/v1/predict", json={"features": VECTOR})
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    wait_until(lambda: client.get("/readyz").status_code == 200)
    assert client.post("/v1/predict", json={"features": VECTOR}).status_code == 200


def test_model_admin_needs_the_token(served):
    client, _ = served
    assert client.get("/admin/model").status_code == 401
    assert client.post("/admin/model/deploy", json={"version": "v2"}).status_code == 401
    assert client.post("/admin/model/rollback",
                       headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_deploy_and_rollback_flip_the_live_version(served):
    client, registry = served

    def info(version):
        return registry.get_sample_value("model_info", {"model": "classifier", "version": version})

    state = client.get("/admin/model", headers=AUTH).json()
    assert state["version"] == "v1" and state["available"] == ["v1", "v2"]
    assert (info("v1"), info("v2")) == (1, 0)

    resp = client.post("/admin/model/deploy", json={"version": "v2"}, headers=AUTH)
    assert resp.json() == {"model": "classifier", "version": "v2", "previous": "v1"}
    assert (info("v1"), info("v2")) == (0, 1)
    assert client.post("/v1/predict", json={"features": VECTOR}).json()["version"] == "v2"

    resp = client.post("/admin/model/rollback", headers=AUTH)
    assert resp.json() == {"model": "classifier", "version": "v1", "previous": "v2"}
    assert (info("v1"), info("v2")) == (1, 0)
    assert client.post("/v1/predict", json={"features": VECTOR}).json()["version"] == "v1"

    again = client.post("/admin/model/rollback", headers=AUTH)
    assert again.status_code == 409 and "nothing to roll back" in again.json()["detail"]


def test_deploying_an_unknown_version_is_a_422_naming_it(served):
    client, registry = served
    resp = client.post("/admin/model/deploy", json={"version": "v9"}, headers=AUTH)
    assert resp.status_code == 422
    assert "'v9'" in resp.json()["detail"] and "v1, v2" in resp.json()["detail"]
    assert registry.get_sample_value("model_info", {"model": "classifier", "version": "v1"}) == 1


def test_model_version_setting_picks_the_version_at_start():
    app, registry = make_app(model_version="v2")
    with TestClient(app) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200)
        assert client.post("/v1/predict", json={"features": VECTOR}).json()["version"] == "v2"
    assert registry.get_sample_value("model_info", {"model": "classifier", "version": "v2"}) == 1


def test_an_unknown_model_version_setting_fails_at_start():
    with pytest.raises(Exception, match="CLASSIFIER_MODEL_VERSION: unknown model version 'v7'"):
        make_app(model_version="v7")


def test_settings_come_from_classifier_env(monkeypatch):
    monkeypatch.setenv("CLASSIFIER_MAX_BATCH_SIZE", "4")
    monkeypatch.setenv("CLASSIFIER_MODEL_VERSION", "v2")
    settings = ClassifierSettings()
    assert (settings.port, settings.max_batch_size, settings.model_version) == (8082, 4, "v2")
