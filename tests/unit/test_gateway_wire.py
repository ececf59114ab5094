"""The gateway's own HTTP/1.1 client for its JSON calls (services/gateway/wire.py), against
raw servers on loopback that write exact bytes: answers of every framing, kept-alive
connections reused and bounded, the keep-alive race retried once, and hostile or broken
answers, deadlines and cancellations failing the call and closing the connection."""

import asyncio
import contextlib

import pytest

from gameday_services.gateway.calls import UpstreamFailure, request_json
from gameday_services.gateway.wire import MAX_BODY, WireClient, WireError, build_request

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


@contextlib.asynccontextmanager
async def server(answer=None):
    """A server that reads each request head (and a Content-Length body) and calls
    ``answer(stats, n, request)``: bytes to write, ``(bytes, "close")`` to write and close,
    None to close without answering; a coroutine is awaited. Yields (base URL, stats)."""
    stats = {"accepted": 0, "requests": [], "closed": 0, "writers": [], "readers": []}

    async def handle(reader, writer):
        stats["accepted"] += 1
        stats["writers"].append(writer)
        stats["readers"].append(reader)
        n = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                stats["requests"].append(head + body)
                out = (answer or (lambda *_: OK))(stats, n, head + body)
                if asyncio.iscoroutine(out):
                    out = await out
                n += 1
                if out is None:
                    return
                close = isinstance(out, tuple)
                writer.write(out[0] if close else out)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            stats["closed"] += 1
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with srv:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}", stats


def call(client, url, **kw):
    return client.request(kw.pop("method", "GET"), url, timeout_s=kw.pop("timeout_s", 2.0),
                          connect_s=1.0, **kw)


def test_calls_one_after_another_share_one_kept_alive_connection():
    async def main():
        async with server() as (url, stats):
            c = WireClient(max_idle=4)
            answers = [(await call(c, f"{url}/x")).json() for _ in range(20)]
            held = c.connections
            await c.aclose()
            return answers, stats["accepted"], held

    answers, accepted, held = asyncio.run(main())
    assert answers == [{"ok": True}] * 20
    assert accepted == 1 and held == 1


def test_the_request_carries_host_length_type_and_the_headers_given():
    async def main():
        async with server() as (url, stats):
            c = WireClient(max_idle=4)
            await call(c, f"{url}/v1/predict?a=1", method="POST", json={"features": [0.5]},
                       headers={"x-request-id": "r-1"})
            await c.aclose()
            return url, stats["requests"][0]

    url, raw = asyncio.run(main())
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/predict?a=1 HTTP/1.1"
    assert f"host: {url.removeprefix('http://')}" in lines
    assert "content-type: application/json" in lines
    assert f"content-length: {len(body)}" in lines
    assert "x-request-id: r-1" in lines
    assert body == b'{"features":[0.5]}'


def test_a_header_that_would_split_into_two_lines_is_refused_before_anything_is_sent():
    for headers in ({"x-request-id": "a\r\nx-admin: 1"}, {"bad name": "v"},
                    {"x-a": "b\nc"}):
        with pytest.raises(ValueError, match="one header line"):
            build_request("GET", "http://127.0.0.1:1/x", headers)
    with pytest.raises(ValueError, match="only http"):
        build_request("GET", "https://127.0.0.1:1/x", {})


def test_chunked_close_delimited_and_1xx_answers_are_read_whole():
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nx-trailer: t\r\n\r\n")
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"b\":2}"
    after_continue = b"HTTP/1.1 100 Continue\r\n\r\n" + OK

    async def main():
        got = {}
        for name, raw in (("chunked", chunked), ("close", (until_close, "close")),
                          ("continue", after_continue)):
            async with server(lambda *_, raw=raw: raw) as (url, stats):
                c = WireClient(max_idle=4)
                first = (await call(c, f"{url}/x")).json()
                second = (await call(c, f"{url}/x")).json()
                got[name] = (first, second, stats["accepted"])
                await c.aclose()
        return got

    got = asyncio.run(main())
    assert got["chunked"] == ({"a": 1}, {"a": 1}, 1)  # kept alive after a chunked answer
    assert got["close"] == ({"b": 2}, {"b": 2}, 2)  # a body up to the close: never reused
    assert got["continue"] == ({"ok": True}, {"ok": True}, 1)


@pytest.mark.parametrize("raw, kind, detail", [
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "error", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: " + str(MAX_BODY + 1).encode() + b"\r\n\r\n",
     "error", "over"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", "error", "head over"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "error", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "error", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"half", "connect_error",
     "closed before a whole answer"),
])
def test_a_broken_or_hostile_answer_fails_the_call_and_closes_the_connection(raw, kind,
                                                                              detail):
    async def main():
        async with server(lambda *_: (raw, "close")) as (url, stats):
            c = WireClient(max_idle=4)
            with pytest.raises(WireError) as err:
                await call(c, f"{url}/x")
            held = c.connections
            await asyncio.sleep(0.05)
            return err.value, held, stats["closed"]

    err, held, closed = asyncio.run(main())
    assert err.kind == kind and detail in err.detail
    assert held == 0 and closed == 1  # the connection is gone on both sides


def test_no_answer_in_time_is_a_timeout_and_the_connection_is_closed():
    async def main():
        async def never(stats, n, req):
            await asyncio.sleep(30)
        async with server(never) as (url, stats):
            c = WireClient(max_idle=4)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(WireError) as err:
                await call(c, f"{url}/x", timeout_s=0.2)
            took = loop.time() - t0
            held = c.connections
            await c.aclose()
            return err.value.kind, took, held

    kind, took, held = asyncio.run(main())
    assert kind == "timeout" and 0.15 < took < 1.5 and held == 0


def test_nothing_listening_is_a_connect_error():
    async def main():
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        c = WireClient(max_idle=4)
        with pytest.raises(WireError) as err:
            await call(c, f"http://127.0.0.1:{port}/x")
        return err.value.kind

    assert asyncio.run(main()) == "connect_error"


def test_the_keep_alive_race_is_retried_once_on_a_new_connection():
    """The server takes the second request on the kept-alive connection and closes without
    a byte of answer (it timed the connection out as the request came): the call goes
    again on a new connection and succeeds. On a new connection it is not retried."""
    async def main():
        def answer(stats, n, req):
            if stats["accepted"] == 1 and n == 1:
                return None
            return OK
        async with server(answer) as (url, stats):
            c = WireClient(max_idle=4)
            first = (await call(c, f"{url}/x")).json()
            second = (await call(c, f"{url}/x")).json()
            reused_race = (first, second, stats["accepted"], len(stats["requests"]))
            await c.aclose()
        async with server(lambda *_: None) as (url, stats):
            c = WireClient(max_idle=4)
            with pytest.raises(WireError) as err:
                await call(c, f"{url}/x")
            fresh = (err.value.kind, stats["accepted"])
        return reused_race, fresh

    reused_race, fresh = asyncio.run(main())
    assert reused_race == ({"ok": True}, {"ok": True}, 2, 3)
    assert fresh == ("connect_error", 1)


def test_a_connection_the_server_closed_while_idle_is_not_used_again():
    async def main():
        async with server() as (url, stats):
            c = WireClient(max_idle=4)
            await call(c, f"{url}/x")
            for w in stats["writers"]:
                w.close()
            await asyncio.sleep(0.05)  # the loop tells the connection at once
            answer = (await call(c, f"{url}/x")).json()
            await c.aclose()
            return answer, stats["accepted"], len(stats["requests"])

    assert asyncio.run(main()) == ({"ok": True}, 2, 2)


def test_idle_connections_expire_and_at_most_max_idle_are_kept():
    async def main():
        async def slow(stats, n, req):
            await asyncio.sleep(0.05)
            return OK
        async with server(slow) as (url, stats):
            c = WireClient(max_idle=3, keepalive_s=0.2)
            await asyncio.gather(*(call(c, f"{url}/x") for _ in range(8)))
            kept = c.connections
            await asyncio.sleep(0.3)
            await call(c, f"{url}/x")
            after_expiry = (c.connections, stats["accepted"])
            await c.aclose()
            return kept, after_expiry

    kept, (held, accepted) = asyncio.run(main())
    assert kept == 3
    assert held == 1 and accepted == 9  # the expired ones closed, a new one opened


def test_a_cancelled_call_closes_its_connection():
    async def main():
        async def until_eof(stats, n, req):
            async with asyncio.timeout(5):
                stats["eof"] = await stats["readers"][-1].read(1) == b""
        async with server(until_eof) as (url, stats):
            c = WireClient(max_idle=4)
            task = asyncio.ensure_future(call(c, f"{url}/x"))
            await asyncio.sleep(0.1)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.05)
            return c.connections, stats.get("eof")

    assert asyncio.run(main()) == (0, True)  # the server saw the connection end


def test_request_json_gives_every_slot_back_after_a_burst_of_calls_given_up():
    """The slots bound the gateway's calls in flight; deadlines and cancellations must not
    leak them (the httpx pool leaked slots that way: test_gateway_call_cancellation.py)."""
    async def main():
        async def slow(stats, n, req):
            await asyncio.sleep(0.3)
            return OK
        async with server(slow) as (url, stats):
            c = WireClient(max_idle=4)
            slots = asyncio.Semaphore(4)
            calls = [request_json(c, "GET", f"{url}/x", timeout_s=0.1, connect_s=0.1,
                                  headers={}, slots=slots) for _ in range(12)]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            waiting = [asyncio.ensure_future(
                request_json(c, "GET", f"{url}/x", timeout_s=2, connect_s=1, headers={},
                             slots=slots)) for _ in range(3)]
            await asyncio.sleep(0.05)
            for t in waiting:
                t.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            free = slots._value
            ok = await request_json(c, "GET", f"{url}/x", timeout_s=2, connect_s=1,
                                    headers={}, slots=slots)
            await c.aclose()
            return outcomes, free, ok

    outcomes, free, ok = asyncio.run(main())
    assert all(isinstance(o, UpstreamFailure) and o.kind == "timeout" for o in outcomes)
    assert free == 4
    assert ok == (200, {"ok": True})


def test_request_json_turns_5xx_and_429_into_failures_with_their_retry_after():
    async def main():
        def answer(stats, n, req):
            if n == 0:
                return (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n"
                        b"Content-Length: 0\r\n\r\n")
            if n == 1:
                return b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot json!"
            return OK
        async with server(answer) as (url, stats):
            c = WireClient(max_idle=4)
            with pytest.raises(UpstreamFailure) as err:
                await request_json(c, "GET", f"{url}/x", timeout_s=2, connect_s=1, headers={})
            not_found = await request_json(c, "GET", f"{url}/x", timeout_s=2, connect_s=1,
                                           headers={})
            await c.aclose()
            return err.value, not_found

    failure, not_found = asyncio.run(main())
    assert (failure.kind, failure.status, failure.retry_after) == ("error", 503, 2.0)
    assert failure.retryable
    assert not_found == (404, None)
