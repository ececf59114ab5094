"""Streamed replies (server-sent events) of a gameday listener: they do not hold the
handler threads, are bounded in number, and end when the source ends or the client goes."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from gameday.listener import HandlerApp, Listener, Reply, Request
from gameday.stream import Stream


class Source:
    def __init__(self, events: int | None = None) -> None:
        self.n = 0
        self.events = events

    def produce(self) -> bytes | None:
        if self.events is not None and self.n >= self.events:
            return None
        self.n += 1
        return f"event: tick\ndata: {self.n}\n\n".encode()


@pytest.fixture
def server():
    sources: list[Source] = []

    def handle(request: Request) -> Reply:
        if request.path == "/stream":
            source = Source()
            sources.append(source)
            return Reply(200, Stream(source.produce, interval_s=0.05))
        if request.path == "/short":
            return Reply(200, Stream(Source(events=3).produce, interval_s=0.01))
        return Reply(200, {"ok": True})

    app = HandlerApp(handle, workers=4, name="t", max_streams=6)
    listener = Listener(app, name="t").start()
    try:
        yield listener, app, sources
    finally:
        listener.stop()


def read_events(resp, count: int) -> list[str]:
    got = []
    for line in resp.iter_lines():
        if line.startswith("data: "):
            got.append(line[6:])
            if len(got) == count:
                break
    return got


def test_a_stream_sends_events_as_they_come(server):
    listener, _, _ = server
    with httpx.stream("GET", f"{listener.url}/stream", timeout=5) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/event-stream"
        assert read_events(resp, 3) == ["1", "2", "3"]


def test_a_stream_ends_when_its_source_does(server):
    listener, _, _ = server
    resp = httpx.get(f"{listener.url}/short", timeout=5)
    assert resp.text.count("event: tick") == 3


def open_stream(listener) -> socket.socket:
    """A raw client holding a stream open, once its first event has arrived."""
    sock = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b"data: " not in got:
        got += sock.recv(4096)
    return sock


def test_open_streams_leave_the_handler_threads_free_and_are_capped(server):
    listener, app, _ = server
    opened = [open_stream(listener) for _ in range(6)]  # more than the 4 handler threads
    try:
        assert app.streams == 6
        answers = [httpx.get(f"{listener.url}/healthz", timeout=2).status_code
                   for _ in range(8)]
        assert answers == [200] * 8
        refused = httpx.get(f"{listener.url}/stream", timeout=2)
        assert refused.status_code == 503
        assert "at most 6" in refused.json()["message"]
    finally:
        for sock in opened:
            sock.close()
    deadline = time.monotonic() + 5
    while app.streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.streams == 0  # each client's going freed its slot


def test_a_stream_costs_no_thread_per_client(server):
    listener, _, _ = server
    with httpx.stream("GET", f"{listener.url}/stream", timeout=5) as resp:
        read_events(resp, 1)
        before = threading.active_count()
        with httpx.stream("GET", f"{listener.url}/stream", timeout=5) as more:
            read_events(more, 2)
            assert threading.active_count() == before


def test_stopping_the_listener_ends_its_streams(server):
    listener, _, sources = server
    with httpx.stream("GET", f"{listener.url}/stream", timeout=5) as resp:
        read_events(resp, 1)
        started = time.monotonic()
        listener.stop()
        assert time.monotonic() - started < 4
