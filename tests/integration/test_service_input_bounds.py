"""Hostile input against the real service processes on loopback: NaN, Infinity and 1e400
as JSON numbers, lone surrogates in strings and keys, oversized values and bodies. Every
answer is a 4xx (never a 5xx), strict JSON, echoing at most a short prefix; a body over
the shared limit is refused with 413 without the service holding it (RSS bounded)."""

from __future__ import annotations

import json

import httpx
import pytest

from gameday_services.common.errors import MAX_ECHO_CHARS, MAX_ERRORS
from gameday_services.common.limits import MAX_BODY_BYTES
from tests.procs import auth, rss_mb, start_services, stop_services

ROUTES = {
    "gateway": ["/v1/classify", "/v1/generate", "/admin/faults"],
    "classifier": ["/v1/predict", "/admin/faults", "/admin/model/deploy"],
    "llm": ["/v1/generate", "/admin/faults"],
    "features": ["/admin/faults"],
}
HOSTILE = [
    b'{"entity_id": "e0001", "label": NaN}',
    b'{"entity_id": "e0001", "label": 1e400}',
    b'{"entity_id": "\\ud800"}',
    b'{"\\udcff": 1}',
    b'{"prompt": "hi", "temperature": NaN}',
    b'{"prompt": "hi", "temperature": -Infinity, "max_tokens": 1e400}',
    b'{"prompt": "\\ud800"}',
    b'{"features": [NaN, 1, 1, 1, 1, 1, 1, 1]}',
    b'{"features": [1e400, 1, 1, 1, 1, 1, 1, 1]}',
    b'{"instances": [' + b",".join([b"[NaN,1,1,1,1,1,1,1]"] * 2000) + b"]}",
    b'{"version": "\\ud800"}',
    b'{"type": "latency", "ttl_s": NaN}',
    b'{"type": "latency", "ttl_s": 1e400, "probability": Infinity}',
    b'{"type": "latency", "params": {"delay_ms": NaN}, "ttl_s": 5}',
    b'{"type": "latency", "route": "/v1/\\ud800", "ttl_s": 5}',
    b'{"type": "\\ud800", "ttl_s": 5}',
    b'{"entity_id": "' + b"x" * 500_000 + b'"}',
    b'{"type": "latency", "params": {"delay_ms": "' + b"9" * 500_000 + b'"}, "ttl_s": 5}',
]
MAX_ANSWER_BYTES = 4096


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    procs = start_services(ROUTES, tmp_path_factory.mktemp("bounds"))
    try:
        yield procs
    finally:
        stop_services(procs)


@pytest.mark.parametrize("service", list(ROUTES))
def test_hostile_bodies_get_short_strict_4xx_answers(services, service):
    proc = services[service]
    headers = {**auth(), "Content-Type": "application/json"}
    seen = []
    with httpx.Client(timeout=30) as client:
        for route in ROUTES[service]:
            for body in HOSTILE:
                resp = client.post(proc.url + route, content=body, headers=headers)
                where = f"{service} POST {route} {body[:60]!r}"
                seen.append(resp.status_code)
                assert 400 <= resp.status_code < 500, (where, resp.status_code, resp.text[:300])
                assert len(resp.content) <= MAX_ANSWER_BYTES, (where, len(resp.content))
                if resp.headers.get("content-type", "").startswith("application/json"):
                    json.loads(resp.content.decode("utf-8"),
                               parse_constant=lambda c, w=where: pytest.fail(f"{w}: {c}"))
    assert proc.proc.poll() is None
    assert 422 in seen


def test_validation_answers_echo_a_short_prefix(services):
    proc = services["gateway"]
    resp = httpx.post(proc.url + "/v1/classify", headers={"Content-Type": "application/json"},
                      content=b'{"entity_id": "' + b"y" * 100_000 + b'"}')
    assert resp.status_code == 422
    body = resp.json()
    assert body["error"].startswith("invalid request: body.entity_id:")
    assert "y" * MAX_ECHO_CHARS not in resp.text
    many = b'{"instances": [' + b",".join([b'["a",1,1,1,1,1,1,1]'] * 500) + b"]}"
    resp = httpx.post(services["classifier"].url + "/v1/predict", content=many,
                      headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and len(resp.json()["detail"]) == MAX_ERRORS
    assert resp.json()["error"].endswith(f"and {500 - MAX_ERRORS} more")


@pytest.mark.parametrize("service", list(ROUTES))
def test_bodies_over_the_limit_are_refused_without_being_held(services, service):
    proc = services[service]
    route = ROUTES[service][0]
    big = b'{"prompt": "' + b"z" * (20 * MAX_BODY_BYTES) + b'"}'
    before = rss_mb(proc.proc.pid)
    codes = []
    with httpx.Client(timeout=30) as client:
        for _ in range(5):  # declared length: refused before the body is read
            try:
                resp = client.post(proc.url + route, content=big,
                                   headers={"Content-Type": "application/json"})
                codes.append(resp.status_code)
            except httpx.HTTPError as err:  # closed while the client still sends
                codes.append(type(err).__name__)

        def chunks():  # no length: refused once the limit is passed
            for _ in range(40):
                yield b"z" * (MAX_BODY_BYTES // 2)

        try:
            resp = client.post(proc.url + route, content=chunks(),
                               headers={"Content-Type": "application/json"})
            codes.append(resp.status_code)
        except httpx.HTTPError as err:
            codes.append(type(err).__name__)
    grown = rss_mb(proc.proc.pid) - before
    print(f"\n{service}: RSS grew {grown:.1f} MB over five 20 MB bodies and one chunked; "
          f"answers {codes}")
    assert 413 in codes and not any(isinstance(c, int) and c != 413 for c in codes), codes
    assert grown < 30
    assert proc.proc.poll() is None
    assert httpx.get(proc.url + "/healthz").status_code == 200
