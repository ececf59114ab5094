"""The console behind the real drill API (gameday.drill.api.IncidentServer): the role comes
from the token, the state is what the API answers that token, and the stream is bounded
without taking the API's request threads."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from gameday.drill.api import FACILITATOR, RESPONDER, SYSTEM, Caller, IncidentServer
from gameday.drill.console import Console
from gameday.drill.console.snapshot import MetricsFeed
from gameday.timeline import append_event

KEY = "the classifier's replica 0 answers 500"


@pytest.fixture
def drill_api(tmp_path):
    append_event(tmp_path, "run_start", who="drill", text="drill started")
    over = {"now": False}

    def act(action, body, caller):
        return 200, {"ok": True, "scenario": {"title": "t"}, "pages": [], "who": caller.role}

    def facilitate(action, body, caller):
        return 200, {"answer_key": {"root_cause": KEY}, "hints_remaining": [], "fault": {}}

    holder = {}
    console = Console(lambda: tmp_path, lambda r: holder["server"].listener.app.handle(r),
                      MetricsFeed(lambda: None), lambda: over["now"])
    callers = {"R": Caller(RESPONDER), "F": Caller(FACILITATOR), "S": Caller(SYSTEM)}
    server = IncidentServer(None, act, lambda body: (200, {}), callers=lambda: callers,
                            handle_facilitator=facilitate, console_routes=console)
    holder["server"] = server.start()
    try:
        yield server, over
    finally:
        server.stop()


def first_chunk(url: str, token: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.stream("GET", f"{url}/console/stream", headers=headers, timeout=5) as resp:
        if resp.status_code != 200:
            resp.read()
            return resp.status_code, resp.text
        return 200, next(resp.iter_text())


def test_the_page_needs_no_token_but_the_stream_needs_a_drill_one(drill_api):
    server, _ = drill_api
    assert httpx.get(f"{server.url}/console", timeout=5).status_code == 200
    assert first_chunk(server.url, None)[0] == 401
    assert first_chunk(server.url, "nope")[0] == 401
    assert first_chunk(server.url, "S")[0] == 401  # the services' admin token is no role


def test_only_the_facilitators_stream_carries_the_answer_key(drill_api):
    server, _ = drill_api
    status, responder = first_chunk(server.url, "R")
    assert status == 200 and '"role": "responder"' in responder and KEY not in responder
    status, facilitator = first_chunk(server.url, "F")
    assert status == 200 and KEY in facilitator


def open_stream(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(b"GET /console/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer R\r\n\r\n")
    got = b""
    while b"event: state" not in got:
        got += sock.recv(65536)
    return sock


def test_sixteen_streams_at_most_and_the_api_still_answers(drill_api):
    server, _ = drill_api
    streams = [open_stream(server.url) for _ in range(16)]
    try:
        assert first_chunk(server.url, "R")[0] == 503
        for _ in range(6):  # more than the API's 4 request threads
            resp = httpx.get(f"{server.url}/incident", headers={"Authorization": "Bearer R"},
                             timeout=3)
            assert resp.status_code == 200
    finally:
        for sock in streams:
            sock.close()
    time.sleep(1.5)
    assert first_chunk(server.url, "R")[0] == 200  # the slots came back


def test_the_stream_ends_with_the_drill(drill_api):
    server, over = drill_api
    with httpx.stream("GET", f"{server.url}/console/stream", timeout=10,
                      headers={"Authorization": "Bearer R"}) as resp:
        chunks = resp.iter_text()
        assert "event: state" in next(chunks)
        over["now"] = True
        rest = "".join(chunks)  # returns: the server closed the stream
    assert "event: end" in rest and "/console/debrief" in rest
