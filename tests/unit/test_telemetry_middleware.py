"""The HTTP telemetry layer: request ids, RED metrics, and faults applied inside it."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from gameday.faults import install_faults
from gameday.telemetry import install_telemetry, request_id_var

TOKEN = "unit-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_app(order=("faults", "telemetry")):
    registry = CollectorRegistry()
    app = FastAPI()
    for what in order:
        if what == "faults":
            install_faults(app, service="classifier", token=TOKEN)
        else:
            install_telemetry(app, service="classifier", registry=registry)

    @app.get("/v1/things/{thing_id}")
    def thing(thing_id: int):
        return {"thing": thing_id, "request_id": request_id_var.get()}

    @app.get("/v1/boom")
    def boom():
        raise RuntimeError("boom")

    return app, registry


def count(registry, route, code, method="GET"):
    return registry.get_sample_value("http_requests_total", {
        "service": "classifier", "route": route, "method": method, "code": str(code)})


def test_request_id_is_echoed_or_made_and_bound_while_serving():
    app, _ = make_app()
    with TestClient(app) as client:
        given = client.get("/v1/things/1", headers={"x-request-id": "abc-123"})
        made = client.get("/v1/things/2")
        long = client.get("/v1/things/3", headers={"x-request-id": "x" * 100})
    assert given.headers["x-request-id"] == "abc-123"
    assert given.json()["request_id"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["x-request-id"])
    assert made.json()["request_id"] == made.headers["x-request-id"]
    assert long.headers["x-request-id"] == "x" * 64
    assert request_id_var.get() is None  # unbound after the request


def test_requests_count_by_route_template_and_code():
    app, registry = make_app()
    with TestClient(app, raise_server_exceptions=False) as client:
        assert count(registry, "/v1/things/{thing_id}", 200) == 0  # made at start-up
        for i in range(3):
            client.get(f"/v1/things/{i}")
        assert client.get("/v1/things/notanint").status_code == 422
        assert client.get("/nowhere").status_code == 404
        assert client.get("/v1/boom").status_code == 500
        metrics = client.get("/metrics").text
    assert count(registry, "/v1/things/{thing_id}", 200) == 3
    assert count(registry, "/v1/things/{thing_id}", 422) == 1
    assert count(registry, "<unmatched>", 404) == 1
    assert count(registry, "/v1/boom", 500) == 1
    hist = registry.get_sample_value("http_request_duration_seconds_count", {
        "service": "classifier", "route": "/v1/things/{thing_id}", "method": "GET"})
    assert hist == 4
    assert registry.get_sample_value("http_requests_in_flight", {"service": "classifier"}) == 0
    assert 'route="/metrics"' not in metrics


def test_metrics_and_admin_are_not_traffic_but_carry_a_request_id():
    app, registry = make_app()
    with TestClient(app) as client:
        scrape = client.get("/metrics")
        admin = client.get("/admin/faults", headers=AUTH)
    assert scrape.headers["x-request-id"] and admin.headers["x-request-id"]
    assert count(registry, "/metrics", 200) is None
    assert count(registry, "/admin/faults", 200) is None


@pytest.mark.parametrize("order", [("faults", "telemetry"), ("telemetry", "faults")])
def test_an_injected_error_is_counted_as_a_symptom_whatever_the_install_order(order):
    app, registry = make_app(order)
    with TestClient(app) as client:
        fault = {"type": "error", "params": {"status": 503}, "ttl_s": 5}
        assert client.post("/admin/faults", json=fault, headers=AUTH).status_code == 201
        resp = client.get("/v1/things/1", headers={"x-request-id": "r1"})
        client.delete("/admin/faults", headers=AUTH)
        after = client.get("/v1/things/1")
    assert resp.status_code == 503 and resp.headers["x-request-id"] == "r1"
    assert after.status_code == 200
    assert count(registry, "/v1/things/{thing_id}", 503) == 1
    assert count(registry, "/v1/things/{thing_id}", 200) == 1


def test_faults_work_without_telemetry():
    app = FastAPI()
    install_faults(app, service="classifier", token=TOKEN)

    @app.get("/v1/things/{thing_id}")
    def thing(thing_id: int):
        return {"thing": thing_id}

    with TestClient(app) as client:
        assert client.get("/v1/things/1").status_code == 200
        fault = {"type": "error", "params": {"status": 500}, "ttl_s": 5}
        client.post("/admin/faults", json=fault, headers=AUTH)
        assert client.get("/v1/things/1").status_code == 500


def test_the_captured_transport_is_released_after_the_request():
    """Capturing the server's transport puts its owner (which holds the scope) in the
    scope: a reference cycle per request unless it is released."""
    import asyncio

    from gameday.faults.middleware import TRANSPORT_KEY
    from gameday.faults.model import FaultSpec

    app, _ = make_app()
    app.state.faults.add(FaultSpec(type="latency", route="/elsewhere/*", ttl_s=30))

    class Cycle:  # what uvicorn's send is bound to
        transport = object()

        def __init__(self):
            self.sent = []

        async def send(self, message):
            self.sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/v1/things/7",
             "raw_path": b"/v1/things/7", "query_string": b"", "root_path": "",
             "headers": [], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
    cycle = Cycle()
    asyncio.run(app(scope, receive, cycle.send))
    assert cycle.sent[0]["status"] == 200
    assert TRANSPORT_KEY not in scope


def test_an_unhandled_error_is_a_plain_500_with_its_request_id_and_raised_on():
    app, registry = make_app()
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/v1/boom", headers={"x-request-id": "boom-1"})
    assert (r.status_code, r.text) == (500, "Internal Server Error")
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-request-id"] == "boom-1"
    assert count(registry, "/v1/boom", 500) == 1
    with TestClient(app) as client, pytest.raises(RuntimeError, match="boom"):
        client.get("/v1/boom")  # raised on to the server, which logs it


def test_the_apps_own_500_handler_and_debug_page_are_kept():
    from fastapi.responses import JSONResponse

    app, registry = make_app()

    @app.exception_handler(Exception)
    async def handled(request, exc):
        return JSONResponse({"oops": str(exc)}, status_code=500)

    debug_app, _ = make_app()
    debug_app.debug = True
    with TestClient(app, raise_server_exceptions=False) as client, \
            TestClient(debug_app, raise_server_exceptions=False) as debug_client:
        r = client.get("/v1/boom")
        page = debug_client.get("/v1/boom", headers={"accept": "text/html"})
    assert (r.status_code, r.json()) == (500, {"oops": "boom"})
    assert count(registry, "/v1/boom", 500) == 1
    assert page.status_code == 500 and "RuntimeError" in page.text and "<html" in page.text
