"""The fault middleware and admin router in process (TestClient); real sockets in integration."""

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from gameday.faults import install_faults
from gameday.telemetry import install_telemetry

TOKEN = "unit-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_app():
    registry = CollectorRegistry()
    app = FastAPI()
    install_faults(app, service="classifier", token=TOKEN)
    install_telemetry(app, service="classifier", registry=registry)

    @app.get("/v1/things/{thing_id}")
    def thing(thing_id: int):
        return {"thing": thing_id}

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app, registry


def add(client, **spec):
    resp = client.post("/admin/faults", json=spec, headers=AUTH)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_admin_needs_bearer_token():
    app, _ = make_app()
    with TestClient(app) as client:
        assert client.get("/admin/faults").status_code == 401
        bad = {"Authorization": "Bearer nope"}
        assert client.get("/admin/faults", headers=bad).status_code == 401
        assert client.post("/admin/faults", json={"type": "latency", "ttl_s": 1}).status_code == 401
        assert client.get("/admin/faults", headers=AUTH).json() == {"faults": []}


def test_no_token_configured_refuses_everything(monkeypatch):
    monkeypatch.delenv("GAMEDAY_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("GAMEDAY_ADMIN_TOKEN_FILE", raising=False)
    app = FastAPI()
    install_faults(app, service="gateway")
    with TestClient(app) as client:
        assert client.get("/admin/faults", headers={"Authorization": "Bearer "}).status_code == 401


def test_error_fault_counts_as_symptom_under_route_template():
    app, registry = make_app()
    with TestClient(app) as client:
        add(client, type="error", params={"status": 503}, ttl_s=5)
        resp = client.get("/v1/things/7")
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "1"
        assert client.get("/healthz").status_code == 200  # default route is /v1/*
    labels = {"service": "classifier", "route": "/v1/things/{thing_id}", "method": "GET",
              "code": "503"}
    assert registry.get_sample_value("http_requests_total", labels) == 1.0


def test_faults_are_invisible_in_metrics():
    app, _ = make_app()
    with TestClient(app) as client:
        add(client, type="latency", params={"delay_ms": 1}, ttl_s=5)
        body = client.get("/metrics").text
    assert "fault" not in body
    assert "/admin" not in body


def test_latency_fault_delays_then_expires_by_itself():
    app, _ = make_app()
    with TestClient(app) as client:
        add(client, type="latency", params={"delay_ms": 200}, ttl_s=0.6)
        t0 = time.perf_counter()
        assert client.get("/v1/things/1").status_code == 200
        assert time.perf_counter() - t0 >= 0.2
        time.sleep(0.7)
        assert client.get("/admin/faults", headers=AUTH).json() == {"faults": []}
        t0 = time.perf_counter()
        client.get("/v1/things/1")
        assert time.perf_counter() - t0 < 0.2


def test_delete_one_and_clear():
    app, _ = make_app()
    with TestClient(app) as client:
        a = add(client, type="latency", ttl_s=5)
        add(client, type="error", ttl_s=5)
        assert client.delete(f"/admin/faults/{a['id']}", headers=AUTH).status_code == 204
        assert client.delete(f"/admin/faults/{a['id']}", headers=AUTH).status_code == 404
        assert client.delete("/admin/faults", headers=AUTH).json() == {"cleared": 1}


def test_bad_fault_is_422_with_field_and_value():
    app, _ = make_app()
    with TestClient(app) as client:
        resp = client.post("/admin/faults", headers=AUTH,
                           json={"type": "memory_leak", "params": {"mb_per_s": -1}, "ttl_s": 5})
        assert resp.status_code == 422
        assert "mb_per_s" in resp.json()["detail"] and "-1" in resp.json()["detail"]
        types = client.get("/admin/faults/types", headers=AUTH).json()["types"]
        assert {"latency", "bad_model", "xid_errors"} <= {t["type"] for t in types}


def test_memory_leak_grows_and_is_freed_on_expiry():
    app, _ = make_app()
    with TestClient(app) as client:
        add(client, type="memory_leak", params={"mb_per_s": 100, "cap_mb": 30}, ttl_s=1.0)
        effects = app.state.fault_effects
        deadline = time.time() + 2
        while effects.leaked_mb() < 29 and time.time() < deadline:
            time.sleep(0.05)
        assert 29 <= effects.leaked_mb() <= 31
        time.sleep(1.2)
        assert effects.leaked_mb() == 0


def test_fault_answers_on_an_included_router_keep_the_route_template():
    from fastapi import APIRouter

    registry = CollectorRegistry()
    app = FastAPI()
    install_faults(app, service="gateway", token=TOKEN)
    install_telemetry(app, service="gateway", registry=registry)
    router = APIRouter(prefix="/v1")

    @router.post("/classify/{kind}")
    def classify(kind: str):
        return {"kind": kind}

    app.include_router(router)  # after install, as the services do
    with TestClient(app) as client:
        add(client, type="error", params={"status": 503}, route="/v1/classify/*", ttl_s=5)
        assert client.post("/v1/classify/x").status_code == 503
    labels = {"service": "gateway", "route": "/v1/classify/{kind}", "method": "POST",
              "code": "503"}
    assert registry.get_sample_value("http_requests_total", labels) == 1.0


def test_api_routes_start_at_zero_before_any_request():
    """Counters exist at 0 from start-up, so rate() treats good and total alike."""
    from fastapi.testclient import TestClient
    from prometheus_client import CollectorRegistry

    from gameday_services.gateway.app import create_app

    registry = CollectorRegistry()
    with TestClient(create_app(registry=registry)):
        labels = {"service": "gateway", "route": "/v1/classify", "method": "POST",
                  "code": "200"}
        assert registry.get_sample_value("http_requests_total", labels) == 0.0
        assert registry.get_sample_value(
            "gateway_classify_answers_total", {"answer": "model"}) == 0.0
