"""Adversarial suite for the four services (issue 16): hostile clients on loopback against
real processes. Slow heads, idle and slow bodies (slowloris), lying and malformed framing
(Content-Length, chunked), oversized heads and bodies, bad header bytes, and random header
names and values from hypothesis. Every answer is below 500 (or the connection is closed
without one), slow clients are answered 408 or cut within the server's receive deadline
(services/common/connection.py; the gateway's own body timeout, 2 s, on its admitted
routes), other clients are served meanwhile, every process still serves afterwards, and no
process grows by more than ``RSS_BOUND_MB``.

The schema-level fuzzing (schemathesis, every documented operation) is
tests/integration/test_fuzz_services.py.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections import Counter

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gameday_services.common.limits import MAX_BODY_BYTES, MAX_HEAD_BYTES, RECEIVE_TIMEOUT_S
from tests.procs import TEST_TOKEN, rss_mb, start_services, stop_services

pytestmark = pytest.mark.adversarial

# A POST route of each service that reads a JSON body (features has only its admin API).
ROUTES = {"gateway": b"/v1/classify", "classifier": b"/v1/predict", "llm": b"/v1/generate",
          "features": b"/admin/faults"}
RSS_BOUND_MB = 40
SLOW_CLIENTS = 40  # per service and kind
HEAD = (b"host: svc\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer " + TEST_TOKEN.encode() + b"\r\n")


def request(route: bytes, extra: bytes = b"", body: bytes = b"{}", method: bytes = b"POST",
            length: bytes | None = None) -> bytes:
    length = str(len(body)).encode() if length is None else length
    return (method + b" " + route + b" HTTP/1.1\r\n" + HEAD + extra
            + b"content-length: " + length + b"\r\n\r\n" + body)


def chunked(route: bytes, chunks: bytes) -> bytes:
    return (b"POST " + route + b" HTTP/1.1\r\n" + HEAD + b"transfer-encoding: chunked\r\n\r\n"
            + chunks)


# name: (raw request for a route, the answers allowed)
FRAMING = {
    "length over the body limit": (lambda r: request(r, length=b"1000000000000"), {413}),
    "negative length": (lambda r: request(r, length=b"-1"), {400}),
    "non-numeric length": (lambda r: request(r, length=b"abc"), {400}),
    "two lengths": (lambda r: request(r, extra=b"content-length: 5\r\n"), {400}),
    "length and chunked": (lambda r: request(r, extra=b"transfer-encoding: chunked\r\n"),
                           {400}),
    "length shorter than the body": (lambda r: request(r, body=b'{"a": 1}', length=b"1"),
                                     {400, 422}),
    "bad chunk size": (lambda r: chunked(r, b"zz\r\n{}\r\n0\r\n\r\n"), {400}),
    "chunked over the body limit": (lambda r: chunked(
        r, (b"10000\r\n" + b"x" * 0x10000 + b"\r\n") * (MAX_BODY_BYTES // 0x10000 + 2)
        + b"0\r\n\r\n"), {413}),
    "unknown transfer coding": (lambda r: request(r, extra=b"transfer-encoding: gzip\r\n"),
                                {400}),
    "header without colon": (lambda r: request(r, extra=b"nocolon\r\n"), {400}),
    "NUL in a header": (lambda r: request(r, extra=b"x-a: a\x00b\r\n"), {400}),
    "latin-1 request id": (lambda r: request(r, extra=b"x-request-id: \xff\xe9\r\n"),
                           {400, 401, 422}),
    "latin-1 token": (lambda r: request(r).replace(TEST_TOKEN.encode(), b"\xff\xfe"),
                      {400, 401, 422}),
    "latin-1 content type": (lambda r: request(r).replace(
        b"application/json", b"application/json; charset=\xff"), {400, 401, 415, 422}),
    "header over the head cap": (lambda r: request(
        r, extra=b"x-big: " + b"a" * (MAX_HEAD_BYTES + 10) + b"\r\n"), {431}),
    "many headers": (lambda r: request(
        r, extra=b"".join(b"x-h%d: v\r\n" % i for i in range(MAX_HEAD_BYTES // 8))), {431}),
    "path over the head cap": (lambda r: request(r + b"a" * (MAX_HEAD_BYTES + 10)), {431}),
    "bad percent-encoding": (lambda r: request(r + b"%ff%00"), {400, 404}),
    "unknown method": (lambda r: request(r, method=b"BREW"), {400, 405}),
    "HTTP/1.0": (lambda r: request(r).replace(b"HTTP/1.1", b"HTTP/1.0"), {400, 401, 422}),
    "HTTP/0.9": (lambda r: b"GET " + r + b"\r\n\r\n", {400, 401, 404, 405}),
    "TLS hello": (lambda r: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),
                  {400}),
}


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    procs = start_services(ROUTES, tmp_path_factory.mktemp("adversarial"))
    try:
        for proc in procs.values():  # warm: the first requests allocate what stays
            for _ in range(20):
                httpx.get(proc.url + "/healthz")
        start_rss = {name: rss_mb(proc.proc.pid) for name, proc in procs.items()}
        yield procs, start_rss
    finally:
        stop_services(procs)


def exchange(port: int, data: bytes, wait_s: float = 10.0) -> int | str:
    """Send ``data`` on a new connection; the status of the answer, or how it ended."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        try:
            sock.sendall(data)
        except OSError:  # the server answered and closed before all of it was sent
            pass
        received = b""
        try:
            while b"\r\n" not in received:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            return "no answer"
        except OSError:
            return "reset"
    if not received:
        return "closed"
    return int(received.split(b" ", 2)[1])


def status_codes(text: str) -> Counter:
    """http_requests_total by code, from a /metrics page."""
    codes = Counter()
    for line in text.splitlines():
        if line.startswith("http_requests_total{"):
            code = line.split('code="', 1)[1].split('"', 1)[0]
            codes[code] += float(line.rsplit(" ", 1)[1])
    return codes


@pytest.mark.parametrize("case", list(FRAMING))
def test_hostile_framing_and_headers_get_a_4xx(services, case):
    procs, _ = services
    build, allowed = FRAMING[case]
    for name, proc in procs.items():
        answer = exchange(proc.port, build(ROUTES[name]))
        assert answer in allowed, (name, case, answer)


async def slow_client(port: int, data: bytes, pause_s: float, at_once: bytes = b"") -> int | str:
    """Send ``at_once``, then ``data`` a byte every ``pause_s``, until the server answers or
    cuts the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(at_once)
        for i in range(len(data) + 1):
            if i < len(data):
                writer.write(data[i:i + 1])
                await writer.drain()
            try:
                line = await asyncio.wait_for(reader.readline(), pause_s)
            except TimeoutError:
                continue
            return int(line.split()[1]) if line else "cut"
        return "no answer"
    except (ConnectionError, OSError):
        return "cut"
    finally:
        writer.close()


async def served_meanwhile(url: str, path: str, until: float) -> Counter:
    codes = Counter()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while time.monotonic() < until:
            codes[(await client.get(path)).status_code] += 1
            await asyncio.sleep(0.05)
    return codes


def test_slow_clients_are_cut_within_the_deadline_and_others_are_served(services):
    """On each service at once: clients that trickle their head, say nothing, or trickle
    their body. Each is answered 408 or cut within the receive deadline (plus the pause
    between bytes and some slack for a shared CPU); /healthz answers meanwhile."""
    procs, _ = services
    pause_s = 1.0

    async def run():
        start = time.monotonic()
        kinds = {}
        for name, proc in procs.items():
            route = ROUTES[name]
            kinds[name, "slow head"] = [slow_client(proc.port, request(route), pause_s)
                                        for _ in range(SLOW_CLIENTS)]
            kinds[name, "silent"] = [slow_client(proc.port, b"", RECEIVE_TIMEOUT_S + 5)
                                     for _ in range(SLOW_CLIENTS)]
            body = b'{"entity_id": "e0001", "prompt": "hi", "features": [1,1,1,1,1,1,1,1]}'
            head, _, _ = request(route, body=body).partition(b"\r\n\r\n")
            slow_body = functools.partial(slow_client, proc.port, body, pause_s,
                                          at_once=head + b"\r\n\r\n")
            kinds[name, "slow body"] = [slow_body() for _ in range(SLOW_CLIENTS)]
        meanwhile = [served_meanwhile(proc.url, "/healthz", start + RECEIVE_TIMEOUT_S)
                     for proc in procs.values()]
        keys = list(kinds)
        results = await asyncio.gather(*(asyncio.gather(*kinds[k]) for k in keys),
                                       asyncio.gather(*meanwhile))
        return dict(zip(keys, results[:-1], strict=True)), results[-1], time.monotonic() - start

    outcomes, meanwhile, took = asyncio.run(run())
    for key, answers in outcomes.items():
        print(key, dict(Counter(answers)))
    print(f"healthz meanwhile: {[dict(c) for c in meanwhile]}; all slow clients done in "
          f"{took:.1f} s")
    for key, answers in outcomes.items():
        assert set(answers) <= {408, "cut"}, (key, Counter(answers))
    for codes in meanwhile:
        assert set(codes) == {200} and sum(codes.values()) >= 10, codes
    assert took < RECEIVE_TIMEOUT_S + 2 * pause_s + 8


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.binary(min_size=1, max_size=40), value=st.binary(max_size=200))
def test_random_header_bytes_never_get_a_5xx(services, name, value):
    procs, _ = services
    extra = name + b": " + value + b"\r\n"
    for service, proc in procs.items():
        answer = exchange(proc.port, request(ROUTES[service], extra=extra), wait_s=5)
        assert answer == "closed" or (isinstance(answer, int) and answer < 500), (
            service, extra, answer)


def test_every_process_still_serves_with_bounded_memory(services):
    """Last: after everything above, each process answers, counted no 5xx, logged no error,
    and its RSS grew by less than RSS_BOUND_MB."""
    procs, start_rss = services
    for name, proc in procs.items():
        assert proc.proc.poll() is None, name
        assert httpx.get(proc.url + "/healthz").status_code == 200
        codes = status_codes(httpx.get(proc.url + "/metrics").text)
        grown = rss_mb(proc.proc.pid) - start_rss[name]
        print(f"\n{name}: RSS {start_rss[name]:.0f} MB at start, grew {grown:.1f} MB; "
              f"answers counted {dict(codes)}")
        assert not any(code.startswith("5") and n for code, n in codes.items()), (name, codes)
        assert grown < RSS_BOUND_MB, (name, grown)
        log = proc.log_path.read_text(errors="replace")
        assert "Traceback" not in log and '"level": "error"' not in log, (name, log[-2000:])
