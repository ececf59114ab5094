"""The three listeners gameday runs in-process (the drill's incident API, the embedded query
API, the webhook receiver) bound what a client can cost (issue 16, item 4).

They run in a child process (listener_child.py) as the drill starts them (no logging set
up, so anything uvicorn or asyncio would print reaches its stderr), hit with raw sockets:
bad and oversized Content-Length, chunked bodies past the cap, hundreds of idle
connections, clients trickling a byte a second, impossible timestamps. Each is answered at
once in the listener's own JSON, or cut off by a deadline; the child's thread count does
not move; its stderr stays empty.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from gameday.drill.api import MAX_BODY as DRILL_MAX_BODY
from gameday.drill.api import IncidentServer
from gameday.engine.queryapi import MAX_BODY as QUERY_MAX_BODY
from gameday.engine.queryapi import QueryServer
from gameday.listener import Limits
from gameday.prometheus.webhook import MAX_BODY as WEBHOOK_MAX_BODY
from tests.integration.rawhttp import exchange, proc_status, read_answer, start_child, stop_child

# what each listener takes a POST body at, the headers it needs, its cap, and a request
# that must keep working
TARGETS = {
    "drill": {"post": "/incident/note", "headers": "Authorization: Bearer tok\r\n",
              "cap": DRILL_MAX_BODY, "ok": ("GET", "/healthz")},
    "query": {"post": "/api/v1/query", "headers": "", "cap": QUERY_MAX_BODY,
              "ok": ("GET", "/api/v1/query?query=1%2B1")},
    "webhook": {"post": "/alerts", "headers": "", "cap": WEBHOOK_MAX_BODY,
                "ok": ("POST", "/alerts")},
}
BODY_TIMEOUT_S = HEAD_TIMEOUT_S = Limits().body_timeout_s
IDLE = 300


def error_text(name: str, body: dict) -> str:
    """The message of a refusal, in each listener's own shape."""
    if name == "query":
        assert body["status"] == "error", body
        return body["error"]
    if name == "drill":
        assert body["ok"] is False, body
        return body["message"]
    return body["error"]


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    proc, ports = start_child(tmp_path_factory.mktemp("run"))
    try:
        yield proc, ports
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def head(name: str, port: int, extra: str) -> bytes:
    t = TARGETS[name]
    return (f"POST {t['post']} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{t['headers']}"
            f"Content-Type: application/json\r\n{extra}\r\n").encode()


def normal_request(name: str, port: int) -> int:
    method, path = TARGETS[name]["ok"]
    body = json.dumps({"alerts": []}) if method == "POST" else None
    resp = httpx.request(method, f"http://127.0.0.1:{port}{path}", content=body, timeout=5)
    return resp.status_code


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("length, status", [("-1", 400), ("abc", 400), ("1e3", 400),
                                            ("12, 13", 400), ("cap+1", 413),
                                            ("99999999999999", 413)])
def test_a_bad_or_oversized_content_length_is_answered_before_any_body(child, name, length,
                                                                       status):
    _proc, ports = child
    if length == "cap+1":
        length = str(TARGETS[name]["cap"] + 1)
    started = time.monotonic()
    code, headers, body = exchange(ports[name], head(name, ports[name],
                                                     f"Content-Length: {length}\r\n"))
    assert code == status, body[:300]
    assert time.monotonic() - started < 3  # no body was sent: nothing was waited for
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    message = error_text(name, json.loads(body))
    if status == 413:
        assert f"body over {TARGETS[name]['cap']} bytes" in message
    assert normal_request(name, ports[name]) == 200


@pytest.mark.parametrize("name", TARGETS)
def test_a_chunked_body_is_cut_off_at_the_cap_with_413(child, name):
    _proc, ports = child
    cap = TARGETS[name]["cap"]
    with socket.create_connection(("127.0.0.1", ports[name]), timeout=10) as sock:
        sock.sendall(head(name, ports[name], "Transfer-Encoding: chunked\r\n"))
        chunk = b"%x\r\n%s\r\n" % (16384, b"x" * 16384)
        sent = 0
        try:
            while sent <= cap + 4 * 16384:  # a little past the cap, then stop sending
                sock.sendall(chunk)
                sent += 16384
        except OSError:
            pass  # the server answered and closed
        code, _headers, body = read_answer(sock)
    assert code == 413, body[:300]
    assert f"body over {cap} bytes" in error_text(name, json.loads(body))
    assert normal_request(name, ports[name]) == 200


@pytest.mark.parametrize("name", ["drill", "webhook"])
@pytest.mark.parametrize("starts_at", ["2026-01-01T00:00:00+99:99", "+99:99",
                                       "2026-01-01T00:00:00-24:00", "9999-12-31T23:59:59-23:59",
                                       "0000-01-01T00:00:00Z"])
def test_an_impossible_starts_at_is_a_400_naming_the_field(child, name, starts_at):
    _proc, ports = child
    payload = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "X"}, "startsAt": starts_at}]}
    resp = httpx.post(f"http://127.0.0.1:{ports[name]}/alerts", json=payload, timeout=5)
    if starts_at.startswith("9999"):  # valid, if far away
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 400, resp.text
    assert "alerts[0].startsAt" in error_text(name, resp.json())
    assert starts_at in error_text(name, resp.json())


def test_idle_connections_cost_no_threads_and_others_are_served(child):
    proc, ports = child
    before = proc_status(proc.pid, "Threads")
    idle = []
    try:
        for port in ports.values():
            for _ in range(IDLE):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.5)  # every connection accepted by now
        during = proc_status(proc.pid, "Threads")
        for name, port in ports.items():
            started = time.monotonic()
            assert normal_request(name, port) == 200
            assert time.monotonic() - started < 2
    finally:
        for sock in idle:
            sock.close()
    assert during <= before + 2, f"{len(idle)} idle connections: {before} -> {during} threads"


def test_slow_clients_are_cut_off_by_deadlines_and_others_still_served(child):
    """A byte a second in the body (408), or in the request head (closed), on every
    listener at once; normal requests keep being answered meanwhile."""
    _proc, ports = child
    outcomes: dict[tuple[str, str], tuple] = {}

    def trickle(name: str, port: int, kind: str) -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            if kind == "body":
                sock.sendall(head(name, port, "Content-Length: 100\r\n"))
                data = b"{" + b" " * 99
            else:
                data = head(name, port, "Content-Length: 2\r\n") + b"{}"
            sock.settimeout(1.0)
            answer = None
            for byte in data:
                try:
                    sock.sendall(bytes([byte]))
                    answer = read_answer(sock)  # waits a second for an answer
                except TimeoutError:
                    continue
                except OSError:
                    answer = (None, {}, b"")
                break
            outcomes[name, kind] = (answer, time.monotonic() - started)

    workers = [threading.Thread(target=trickle, args=(name, port, kind))
               for name, port in ports.items() for kind in ("body", "head")]
    for w in workers:
        w.start()
    served = 0
    while any(w.is_alive() for w in workers):
        for name, port in ports.items():
            assert normal_request(name, port) == 200
            served += 1
        time.sleep(0.5)
    for w in workers:
        w.join()
    assert served >= 3 * 10
    for (name, kind), (answer, took) in outcomes.items():
        assert answer is not None, f"{name} {kind}: never cut off"
        code, _headers, body = answer
        if kind == "body":
            assert code == 408, (name, body)
            assert "body not received within" in error_text(name, json.loads(body))
        else:
            assert code is None, (name, code, body)  # closed without an answer
        assert BODY_TIMEOUT_S - 1 < took < BODY_TIMEOUT_S + 4, (name, kind, took)


def test_a_handler_that_fails_answers_json_500_and_prints_nothing(capfd, tmp_path):
    def broken(*_args):
        raise RuntimeError("handler bug")

    class BrokenEngine:
        def evaluate(self, expr, at):
            raise RuntimeError("engine bug")

    drill = IncidentServer("tok", broken, broken).start()
    query = QueryServer(BrokenEngine()).start()
    try:
        resp = httpx.post(drill.url + "/incident/note", json={"text": "x"},
                          headers={"Authorization": "Bearer tok"})
        assert resp.status_code == 500 and resp.json() == {
            "ok": False, "message": "internal error: RuntimeError: handler bug"}
        resp = httpx.post(drill.url + "/alerts", json={"alerts": []})
        assert resp.status_code == 500 and resp.json()["ok"] is False
        resp = httpx.get(query.url + "/api/v1/query", params={"query": "1"})
        assert resp.status_code == 500 and resp.json() == {
            "status": "error", "errorType": "internal", "error": "RuntimeError: engine bug"}
        assert httpx.get(drill.url + "/healthz").status_code == 200
    finally:
        drill.stop()
        query.stop()
    out, err = capfd.readouterr()
    assert err == "" and out == ""


def test_the_listeners_printed_nothing_and_stop_promptly(child):
    """Last in this file: everything above went to the child; its stderr must be empty."""
    proc, ports = child
    for name, port in ports.items():  # one more of each hostile kind, then stop
        assert exchange(port, head(name, port, "Content-Length: -1\r\n"))[0] == 400
        # h11 measures a head still incomplete: one that arrives whole in a single socket
        # read (asyncio reads up to 256 KiB) can pass max_head_bytes; 1 MiB cannot
        code, _headers, body = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX: "
                                        + b"a" * (1 << 20) + b"\r\n\r\n")
        assert code == 400 and "malformed HTTP request" in error_text(name, json.loads(body))
    out, err = stop_child(proc)
    assert err == ""
    assert proc.returncode == 0
    assert json.loads(out.strip().splitlines()[-1])["stop_s"] < 3


BROKEN = """
import httpx
from gameday.drill.api import IncidentServer
from gameday.engine.queryapi import QueryServer

def broken(*_args):
    raise RuntimeError("handler bug")

class BrokenEngine:
    def evaluate(self, expr, at):
        raise RuntimeError("engine bug")

drill = IncidentServer("tok", broken, broken).start()
query = QueryServer(BrokenEngine()).start()
print(httpx.post(drill.url + "/incident/note", json={}, headers={"Authorization": "Bearer tok"}
                 ).status_code, httpx.get(query.url + "/api/v1/query?query=1").status_code)
drill.stop()
query.stop()
"""


def test_a_handler_bug_prints_nothing_where_logging_is_not_set_up():
    """As in the drill's process: no logging configured, so a warning logged without a
    handler would reach stderr through logging's last resort."""
    result = subprocess.run([sys.executable, "-c", BROKEN], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.split() == ["500", "500"], result.stderr
    assert result.stderr == ""
