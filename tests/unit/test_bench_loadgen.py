"""bench_overload's load generator against a canned HTTP/1.1 server on loopback: every
request's outcome is recorded, connections are kept alive and capped, fallbacks are told
from model answers, and a server that never answers costs a timeout, not a hang."""

from __future__ import annotations

import asyncio

from tests.unit.test_bench_smoke import load


def answer(status: int, body: bytes, close: bool = False) -> bytes:
    reason = {200: b"OK", 429: b"Too Many Requests"}[status]
    extra = b"connection: close\r\n" if close else b""
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s"
            b"\r\n%s" % (status, reason, len(body), extra, body))


async def canned_server(replies):
    """Serves ``replies(n)`` for the n-th request (None: never answers); counts accepts."""
    state = {"accepts": 0, "requests": 0}

    async def handle(reader, writer):
        state["accepts"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                state["requests"] += 1
                reply = replies(state["requests"])
                if reply is None:
                    await asyncio.sleep(3600)
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/classify", state


def test_open_loop_records_every_outcome_on_kept_alive_connections():
    lg = load("loadgen")
    bo = load("bench_overload")

    def replies(n):
        if n % 3 == 0:
            return answer(429, b'{"reason":"adaptive_limit"}')
        if n % 3 == 1:
            return answer(200, b'{"label":"a","degraded":false}')
        return answer(200, b'{"label":"a","degraded":true,"fallback":"cached_answer"}')

    async def main():
        server, url, state = await canned_server(replies)
        async with server:
            res = await bo.drive_open(url, 200.0, 0.5)
        return res, state

    res, state = asyncio.run(main())
    statuses = [r[0] for r in res["results"]]
    assert len(statuses) == 100 and statuses.count(429) == 33 and statuses.count(200) == 67
    assert sum(r[2] for r in res["results"]) == 33  # the cached answers
    assert all(0 <= r[1] < 1 for r in res["results"])
    assert state["accepts"] <= 10  # at 200/s with instant answers, connections are reused
    assert lg.FALLBACKS == bo.lg.FALLBACKS


def test_a_closed_connection_is_replaced_and_a_silent_server_times_out():
    lg = load("loadgen")

    async def main():
        server, url, state = await canned_server(
            lambda n: None if n == 3 else answer(200, b"{}", close=(n == 1)))
        async with server:
            client = lg.Client(url, max_connections=4, timeout_s=0.3, entities=10)
            loop = asyncio.get_running_loop()
            for _ in range(4):
                await lg.one(client, loop.time())
            client.close()
        return client.out, state

    out, state = asyncio.run(main())
    assert [r[0] for r in out] == [200, 200, 0, 200]  # the third never answered
    assert 0.3 <= out[2][1] < 1.0
    assert state["accepts"] == 3  # a new connection after "close" and after the timeout


def test_requests_past_the_connection_cap_wait_for_a_free_one():
    lg = load("loadgen")

    async def main():
        server, url, state = await canned_server(lambda n: answer(200, b"{}"))
        async with server:
            client = lg.Client(url, max_connections=2, timeout_s=5, entities=10)
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(lg.one(client, loop.time()) for _ in range(20)))
            client.close()
        return client.out, state

    out, state = asyncio.run(main())
    assert [r[0] for r in out] == [200] * 20 and state["accepts"] == 2


def test_a_request_waiting_for_a_connection_goes_when_one_closes():
    lg = load("loadgen")

    async def main():  # every answer closes its connection: the waiting requests reconnect
        server, url, state = await canned_server(lambda n: answer(200, b"{}", close=True))
        async with server:
            client = lg.Client(url, max_connections=2, timeout_s=5, entities=10)
            loop = asyncio.get_running_loop()
            for _ in range(6):
                client.submit(loop.time())
            await asyncio.wait_for(client.drain(), 5)
            client.close()
        return client.out, state

    out, state = asyncio.run(main())
    assert [r[0] for r in out] == [200] * 6 and state["accepts"] == 6


def test_closed_loop_users_send_again_on_each_answer_until_the_end():
    bo = load("bench_overload")

    async def main():
        server, url, state = await canned_server(lambda n: answer(200, b"{}"))
        async with server:
            res = await bo.drive_closed(url, 3, 0.3)
        return res, state

    res, state = asyncio.run(main())
    assert len(res["results"]) == state["requests"] > 30
    assert state["accepts"] == 3  # one connection per user, kept alive
    assert all(r[0] == 200 and 0 <= r[3] <= 0.3 for r in res["results"])
