"""Admin and control APIs: every mutating endpoint needs the run's token, and the token is
never written to a log or put in an error message.

The mutating endpoints are read from each app's own route table (and the drill controller's
action table), so a new admin route is checked without anyone adding it here.
"""

from __future__ import annotations

import importlib
import re
import secrets
from pathlib import Path

import fastapi.routing
import httpx
import pytest
from fastapi.testclient import TestClient

from gameday.drill.api import ACTIONS, IncidentServer
from gameday.faults.auth import TOKEN_ENV, TOKEN_FILE_ENV
from tests.procs import ServiceProcess

SERVICES = ("features", "classifier", "llm", "gateway")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The public inference API: mutating by method, open to clients by design (no state changes
# beyond the request itself). Any other mutating route must sit behind the token.
PUBLIC = {("classifier", "POST", "/v1/predict"), ("llm", "POST", "/v1/generate"),
          ("gateway", "POST", "/v1/classify"), ("gateway", "POST", "/v1/generate")}

TOKEN = "right-" + secrets.token_urlsafe(24)
WRONG = "wrong-" + secrets.token_urlsafe(24)
# Variants of a wrong credential: none, another token, the right one under the wrong scheme
# or with something added, a prefix of it, an empty bearer.
BAD_HEADERS = {
    "no header": {},
    "wrong token": {"Authorization": f"Bearer {WRONG}"},
    "basic scheme": {"Authorization": f"Basic {TOKEN}"},
    "no scheme": {"Authorization": TOKEN},
    "token plus a suffix": {"Authorization": f"Bearer {TOKEN}x"},
    "prefix of the token": {"Authorization": f"Bearer {TOKEN[:-1]}"},
    "empty bearer": {"Authorization": "Bearer"},
}
RIGHT = {"Authorization": f"Bearer {TOKEN}"}


def create_app(service: str):
    return importlib.import_module(f"gameday_services.{service}.app").create_app()


def concrete(path: str) -> str:
    """A request path for a route template: every parameter set to '0'."""
    return re.sub(r"\{[^}]+\}", "0", path)


def route_table(app) -> list[tuple[str, str]]:
    """(METHOD, path template) of every route the app serves, those of included routers too
    (recent FastAPI keeps included routers lazy; iter_route_contexts flattens them)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = flatten(app.routes) if flatten is not None else app.routes
    return sorted({(method, route.path) for route in routes
                   for method in (getattr(route, "methods", None) or ())})


def collect_routes() -> list[tuple[str, str, str]]:
    return [(service, method, path) for service in SERVICES
            for method, path in route_table(create_app(service)) if method in MUTATING]


ROUTES = collect_routes()
ADMIN_ROUTES = [r for r in ROUTES if r not in PUBLIC]


@pytest.fixture(scope="module")
def clients():
    """Each service's app with TOKEN configured, in process, no lifespan: the token check
    runs before any handler, so nothing needs to be started."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(TOKEN_ENV, TOKEN)
        mp.delenv(TOKEN_FILE_ENV, raising=False)
        yield {s: TestClient(create_app(s), raise_server_exceptions=False) for s in SERVICES}


def test_the_route_tables_hold_the_admin_routes():
    """Not vacuous: each service has admin routes, the public ones are the /v1 inference."""
    for service in SERVICES:
        assert (service, "POST", "/admin/faults") in ADMIN_ROUTES
        assert (service, "DELETE", "/admin/faults/{fault_id}") in ADMIN_ROUTES
    assert ("classifier", "POST", "/admin/model/deploy") in ADMIN_ROUTES
    assert ("gateway", "PATCH", "/admin/policy") in ADMIN_ROUTES
    assert PUBLIC <= set(ROUTES)
    assert all(path.startswith("/admin/") for _, _, path in ADMIN_ROUTES)


@pytest.mark.parametrize(("service", "method", "path"), ADMIN_ROUTES,
                         ids=[f"{s}:{m} {p}" for s, m, p in ADMIN_ROUTES])
def test_every_mutating_admin_route_needs_the_token(clients, service, method, path):
    client = clients[service]
    url = concrete(path)
    for why, headers in BAD_HEADERS.items():
        resp = client.request(method, url, json={}, headers=headers)
        assert resp.status_code in (401, 403), f"{why}: {method} {url} -> {resp.status_code}"
        if why == "no header":
            assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in resp.text and WRONG not in resp.text
    # The same request with the right token gets past the check (whatever the handler says).
    resp = client.request(method, url, json={}, headers=RIGHT)
    assert resp.status_code not in (401, 403), resp.text


@pytest.mark.parametrize("service", SERVICES)
def test_admin_reads_need_the_token_too(clients, service):
    client = clients[service]
    reads = [path for method, path in route_table(client.app)
             if method == "GET" and path.startswith("/admin")]
    assert "/admin/faults" in reads
    for path in reads:
        assert client.get(concrete(path)).status_code == 401, path
        assert client.get(concrete(path), headers=RIGHT).status_code == 200, path


def test_without_a_configured_token_the_admin_api_refuses_everything(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)
    client = TestClient(create_app("features"), raise_server_exceptions=False)
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer None"}, RIGHT):
        assert client.post("/admin/faults", json={}, headers=headers).status_code == 401
        assert client.delete("/admin/faults", headers=headers).status_code == 401


# -- the drill controller's incident API ---------------------------------------------------
@pytest.fixture()
def incident_server():
    calls = []

    def act(action: str, body: dict):
        calls.append((action, body))
        return 200, {"ok": True}

    server = IncidentServer(TOKEN, act, lambda body: (200, {"ok": True})).start()
    try:
        yield server, calls
    finally:
        server.stop()


def test_every_incident_action_needs_the_token(incident_server):
    server, calls = incident_server
    with httpx.Client(base_url=server.url, timeout=5) as client:
        for action in ACTIONS:
            for why, headers in BAD_HEADERS.items():
                resp = client.post(f"/incident/{action}", json={"who": "x"}, headers=headers)
                assert resp.status_code in (401, 403), f"{action}, {why}: {resp.status_code}"
                assert TOKEN not in resp.text and WRONG not in resp.text
            assert calls == [], f"{action} reached the controller without the token"
        assert client.get("/incident").status_code == 401
        assert client.get("/incident", headers={"Authorization": f"Bearer {WRONG}"}
                          ).status_code == 401
        for action in ACTIONS:
            assert client.post(f"/incident/{action}", json={}, headers=RIGHT).status_code == 200
        assert client.get("/incident", headers=RIGHT).status_code == 200
    assert [a for a, _ in calls] == [*ACTIONS, "status"]


# -- the token never in logs ------------------------------------------------------------------
@pytest.fixture(scope="module")
def logged_services(tmp_path_factory):
    """The four services as processes with TOKEN, logging at DEBUG into files."""
    logs = tmp_path_factory.mktemp("auth-logs")
    procs = {name: ServiceProcess(name, log_dir=logs, env={
        TOKEN_ENV: TOKEN, f"{name.upper()}_LOG_LEVEL": "DEBUG",
        f"{name.upper()}_LOAD_TIME_S": "0"}) for name in ("features", "classifier", "llm")}
    procs["gateway"] = ServiceProcess("gateway", log_dir=logs, env={
        TOKEN_ENV: TOKEN, "GATEWAY_LOG_LEVEL": "DEBUG",
        "GATEWAY_FEATURES_URL": procs["features"].url,
        "GATEWAY_CLASSIFIER_URLS": procs["classifier"].url,
        "GATEWAY_LLM_URL": procs["llm"].url})
    try:
        for proc in procs.values():
            proc.start(wait_ready=False)
        for proc in procs.values():
            proc.wait_ready()
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


def admin_calls(service: str) -> list[tuple[str, str, dict | None]]:
    """Failing and succeeding admin calls: wrong input, unknown ids, a fault added and
    cleared, and the service's own levers."""
    calls = [("GET", "/admin/faults", None),
             ("POST", "/admin/faults", {"type": "nope", "ttl_s": 5}),
             ("POST", "/admin/faults", {"type": "latency", "ttl_s": 99999}),
             ("POST", "/admin/faults", {"type": "latency", "params": {"delay_ms": 1},
                                        "route": "/nowhere", "ttl_s": 5}),
             ("DELETE", "/admin/faults/no-such-id", None),
             ("DELETE", "/admin/faults", None)]
    if service == "classifier":
        calls += [("POST", "/admin/model/deploy", {"version": "v9"}),
                  ("POST", "/admin/model/rollback", None)]
    if service == "gateway":
        calls += [("PATCH", "/admin/policy", {"retry": {"max_attempts": -1}}),
                  ("PUT", "/admin/upstreams/nope", {"urls": ["x"]}),
                  ("POST", "/admin/upstreams/classifier/9/eject", None),
                  ("PUT", "/admin/policy", {})]
    return calls


def test_the_token_is_never_logged_nor_echoed(logged_services):
    bodies = []
    for service, proc in logged_services.items():
        with httpx.Client(base_url=proc.url, timeout=10) as client:
            for method, path, body in admin_calls(service):
                for headers in ({"Authorization": f"Bearer {WRONG}"}, RIGHT,
                                {"Authorization": f"Basic {TOKEN}"}):
                    resp = client.request(method, path, json=body, headers=headers)
                    bodies.append((service, method, path, resp.status_code, resp.text))
    for service, method, path, status, text in bodies:
        assert TOKEN not in text and WRONG not in text, (service, method, path, status)
    assert {status for *_, status, _ in bodies} >= {200, 201, 401, 404, 422}
    for proc in logged_services.values():
        proc.stop()  # flush and close the logs
    texts = {proc.name: Path(proc.log_path).read_text() for proc in logged_services.values()}
    assert "fault added" in texts["features"]  # the logs are really captured, at DEBUG
    for name, text in texts.items():
        assert TOKEN not in text, f"{name}'s log holds the admin token"
        assert WRONG not in text, f"{name}'s log holds a presented (wrong) token"


def test_a_stack_run_keeps_its_token_out_of_every_file_but_the_token_file(tmp_path):
    """A short stack run: admin calls with a wrong and the right token on every process, a
    fault added and expired; afterwards only ``<run>/token`` (mode 0600) holds the token,
    and the children got the token file's path, never the token, in their environment."""
    from gameday.stack import Stack, build_spec

    with Stack(build_spec(free_ports=True), home=tmp_path / ".gameday") as stack:
        token, run_dir = stack.token, stack.run.path
        environs = [Path(f"/proc/{p.pid}/environ").read_bytes()
                    for p in stack.state().processes if p.pid]
        with httpx.Client(timeout=10) as client:
            for url in stack.urls().values():
                wrong = client.post(url + "/admin/faults", json={"type": "latency", "ttl_s": 1},
                                    headers={"Authorization": f"Bearer {WRONG}"})
                assert wrong.status_code == 401
                fault = {"type": "latency", "params": {"delay_ms": 1}, "route": "/nowhere",
                         "ttl_s": 0.5}
                right = client.post(url + "/admin/faults", json=fault,
                                    headers={"Authorization": f"Bearer {token}"})
                assert right.status_code == 201, right.text
                bad = client.post(url + "/admin/faults", json={"type": "nope", "ttl_s": 1},
                                  headers={"Authorization": f"Bearer {token}"})
                assert bad.status_code == 422 and token not in bad.text
    assert environs and all(token.encode() not in env for env in environs)
    token_file = run_dir / "token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    files = [p for p in run_dir.rglob("*") if p.is_file() and p != token_file]
    assert any(p.suffix == ".log" for p in files)
    for path in files:
        data = path.read_bytes()
        assert token.encode() not in data, f"{path.relative_to(run_dir)} holds the token"
        assert WRONG.encode() not in data, f"{path.relative_to(run_dir)} holds a wrong token"
