"""The gateway's protocol refuses from a request's head: a real uvicorn server on loopback,
raw sockets, the gateway full (one slot, held by a slow classify). What a client sees is
what the shedding layer answers (status, Retry-After, reason, request id), counted the same,
and the kept-alive connection goes on with its next request, the refused body dropped."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from gameday.stack.plan import free_port
from gameday_services.gateway.early import protocol_for
from gameday_services.gateway.shedding import SheddingMiddleware
from tests.integration.fake_upstreams import (
    CLASSIFIER_A,
    CLASSIFIER_B,
    gateway_app,
    in_process_fakes,
)
from tests.procs import TEST_TOKEN


class Served:
    def __init__(self, app, port: int) -> None:
        self.app, self.port = app, port
        config = uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol_for(app),
                                loop="asyncio", log_config=None, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return sock


def post(path: str, body: bytes, extra: str = "", version: str = "1.1") -> bytes:
    return (f"POST {path} HTTP/{version}\r\nhost: gw\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n{extra}\r\n").encode() + body


def read_answer(sock: socket.socket, buffered: bytearray) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 answer with a Content-Length from ``sock``; bytes past it stay in
    ``buffered`` for the next call."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed; got {bytes(buffered)!r}"
        buffered += chunk
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    size = int(headers["content-length"][0])
    while len(rest) < size:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in a body"
        rest += chunk
    buffered[:] = rest[size:]
    return status, headers, rest[:size]


@pytest.fixture
def full_gateway(monkeypatch):
    """A gateway with one slot; ``hold()`` sends a classify that holds it for 0.5 s."""
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    fakes = in_process_fakes()
    for url in (CLASSIFIER_A, CLASSIFIER_B):
        fakes[url].state.control.delay_s = 0.5
    registry = CollectorRegistry()
    app = gateway_app(fakes, registry, admission={"max_in_flight": 1})
    asgi_refusals = []  # refusals the shedding layer made: an ASGI task ran for them
    refuse = SheddingMiddleware.refuse

    async def counted(self, *args, **kwargs):
        asgi_refusals.append(args)
        await refuse(self, *args, **kwargs)

    monkeypatch.setattr(SheddingMiddleware, "refuse", counted)
    with Served(app, free_port()) as served:
        served.registry, served.asgi_refusals = registry, asgi_refusals
        yield served


def hold(served: Served) -> socket.socket:
    sock = served.connect()
    sock.sendall(post("/v1/classify", b'{"entity_id": "e0001"}'))
    deadline = time.monotonic() + 5
    while served.app.state.gateway.admission.in_flight < 1:
        assert time.monotonic() < deadline, "the slow request was not admitted"
        time.sleep(0.01)
    return sock


def eventually(check, within_s: float = 5.0) -> None:
    """The ASGI path counts an answer once it is sent: the client may read it first."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "not counted"
        time.sleep(0.01)


def http_count(registry, code) -> float:
    return registry.get_sample_value(
        "http_requests_total", {"service": "gateway", "route": "/v1/classify",
                                "method": "POST", "code": str(code)}) or 0


def shed_count(registry, reason) -> float:
    return registry.get_sample_value("gateway_shed_requests_total", {"reason": reason}) or 0


def test_a_full_gateway_refuses_from_the_head_and_the_connection_goes_on(full_gateway):
    served = full_gateway
    holder = hold(served)
    sock, buffered = served.connect(), bytearray()
    # two refusals pipelined in one write, the first with a body that is not even JSON
    sock.sendall(post("/v1/classify", b"{not json", "x-request-id: mine-1\r\n")
                 + post("/v1/classify", b'{"entity_id": "e0002"}'))
    first = read_answer(sock, buffered)
    second = read_answer(sock, buffered)
    for status, headers, body in (first, second):
        assert status == 429 and headers["retry-after"] == ["1"]
        assert json.loads(body)["reason"] == "max_in_flight"
        assert "connection" not in headers  # kept alive
        assert headers["date"] and headers["content-type"] == ["application/json"]
    assert first[1]["x-request-id"] == ["mine-1"]
    assert len(second[1]["x-request-id"][0]) == 16  # a new one, as the telemetry layer makes
    assert served.app.state.gateway.admission.in_flight == 1  # never admitted
    assert served.asgi_refusals == []  # refused in the protocol: no ASGI task
    assert shed_count(served.registry, "max_in_flight") == 2
    assert http_count(served.registry, 429) == 2
    # the slot comes back; the same connection's next request is served
    assert read_answer(holder, bytearray())[0] == 200
    sock.sendall(post("/v1/classify", b'{"entity_id": "e0003"}'))
    status, _, body = read_answer(sock, buffered)
    assert status == 200 and json.loads(body)["entity_id"] == "e0003"
    eventually(lambda: http_count(served.registry, 200) == 2)  # counted after it is sent


def test_a_refused_body_arriving_in_pieces_is_dropped_not_parsed_as_a_request(full_gateway):
    served = full_gateway
    holder = hold(served)
    sock, buffered = served.connect(), bytearray()
    # the body looks like a request of its own: it must not be taken for one
    body = post("/admin/policy", b"{}") + b" " * 60_000
    sock.sendall(post("/v1/classify", body)[:200])
    assert read_answer(sock, buffered)[0] == 429  # answered from the head
    rest = post("/v1/classify", body)[200:]
    for i in range(0, len(rest), 7000):
        sock.sendall(rest[i:i + 7000])
        time.sleep(0.01)
    read_answer(holder, bytearray())
    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n")
    status, _, _ = read_answer(sock, buffered)
    assert status == 200 and not buffered  # one answer: the body was no request
    assert served.asgi_refusals == []


@pytest.mark.parametrize("extra, version", [("connection: close\r\n", "1.1"), ("", "1.0")])
def test_a_connection_that_closes_is_refused_the_asgi_way_and_closed(full_gateway, extra,
                                                                     version):
    served = full_gateway
    holder = hold(served)
    sock, buffered = served.connect(), bytearray()
    sock.sendall(post("/v1/classify", b'{"entity_id": "e0002"}', extra, version))
    status, headers, body = read_answer(sock, buffered)
    assert status == 429 and json.loads(body)["reason"] == "max_in_flight"
    assert sock.recv(10) == b""  # closed after the answer
    assert len(served.asgi_refusals) == 1  # by the shedding layer
    assert shed_count(served.registry, "max_in_flight") == 1
    read_answer(holder, bytearray())


def test_a_503_refusal_and_the_adaptive_limit_count_as_the_shedding_layer_does(full_gateway):
    served = full_gateway
    gw = served.app.state.gateway
    gw.policy = gw.policy.model_copy(update={"admission": gw.policy.admission.model_copy(
        update={"shed_status": 503, "retry_after_s": 2, "max_in_flight": 4,
                "adaptive_limit": True, "limit_min": 1})})
    gw.admission.limit.limit = 1.0
    holder = hold(served)
    sock, buffered = served.connect(), bytearray()
    sock.sendall(post("/v1/classify", b'{"entity_id": "e0002"}'))
    status, headers, body = read_answer(sock, buffered)
    assert status == 503 and headers["retry-after"] == ["2"]
    assert json.loads(body)["reason"] == "adaptive_limit"
    assert shed_count(served.registry, "adaptive_limit") == 1
    assert http_count(served.registry, 503) == 1
    assert served.registry.get_sample_value("gateway_classify_answers_total",
                                            {"answer": "error"}) == 1
    assert served.asgi_refusals == []
    read_answer(holder, bytearray())
