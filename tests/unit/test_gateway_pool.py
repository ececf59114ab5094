"""The gateway's upstream pool (services/gateway/pool.py) against a real server on loopback:
connections reused, bounded, closed when the server or the keep-alive ends them, and a
call that failed or was given up never reuses its connection."""

import asyncio
import contextlib

import httpx
import pytest

from gameday_services.gateway.pool import PooledTransport


@contextlib.asynccontextmanager
async def upstream(delay_s: float = 0.0, close_after: bool = False):
    """A keep-alive HTTP/1.1 server; yields (url, stats): stats["accepted"] counts the
    connections it accepted, stats["open"] those still open on its side."""
    stats = {"accepted": 0, "open": 0, "writers": []}

    async def handle(reader, writer):
        stats["accepted"] += 1
        stats["open"] += 1
        stats["writers"].append(writer)
        try:
            while True:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = await reader.read(4096)
                    if not chunk:
                        return
                    head += chunk
                await asyncio.sleep(delay_s)
                extra = b"Connection: close\r\n" if close_after else b""
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra
                             + b"Content-Length: 11\r\n\r\n{\"ok\":true}")
                await writer.drain()
                if close_after:
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            stats["open"] -= 1
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x", stats


def client(max_idle: int = 4, keepalive_s: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=PooledTransport(max_idle, keepalive_s))


def test_calls_one_after_another_share_one_connection():
    async def main():
        async with upstream() as (url, stats), client() as c:
            answers = [(await c.get(url)).json() for _ in range(20)]
            return answers, stats["accepted"], c._transport.pool.connections

    answers, accepted, held = asyncio.run(main())
    assert answers == [{"ok": True}] * 20
    assert (accepted, held) == (1, 1)


def test_concurrent_calls_open_what_they_need_and_keep_at_most_max_idle():
    async def main():
        async with upstream(delay_s=0.1) as (url, stats), client(max_idle=3) as c:
            answers = await asyncio.gather(*(c.get(url) for _ in range(8)))
            kept = c._transport.pool.connections
            await asyncio.sleep(0.05)
            again = await asyncio.gather(*(c.get(url) for _ in range(3)))
            return ([a.status_code for a in answers + again], stats["accepted"], kept,
                    c._transport.pool.connections)

    codes, accepted, kept, after = asyncio.run(main())
    assert codes == [200] * 11
    assert accepted == 8  # the three later calls reused kept connections
    assert kept == 3 and after == 3


def test_a_connection_the_server_closed_is_not_reused():
    async def main():
        async with upstream() as (url, stats), client() as c:
            first = (await c.get(url)).json()
            for w in stats["writers"]:  # the server drops its idle connection
                w.close()
            await asyncio.sleep(0.05)
            second = (await c.get(url)).json()
            return first, second, stats["accepted"]

    first, second, accepted = asyncio.run(main())
    assert first == second == {"ok": True}
    assert accepted == 2


def test_connection_close_from_the_server_is_honoured():
    async def main():
        async with upstream(close_after=True) as (url, stats), client() as c:
            answers = [(await c.get(url)).status_code for _ in range(3)]
            return answers, stats["accepted"], c._transport.pool.connections

    answers, accepted, held = asyncio.run(main())
    assert answers == [200] * 3 and accepted == 3 and held == 0


def test_an_idle_connection_past_its_keepalive_is_closed():
    async def main():
        async with upstream() as (url, stats), client(keepalive_s=0.1) as c:
            await c.get(url)
            await asyncio.sleep(0.3)
            await c.get(url)  # takes a new one: the kept one had expired
            await asyncio.sleep(0.05)
            return stats["accepted"], stats["open"], c._transport.pool.connections

    accepted, still_open, held = asyncio.run(main())
    assert accepted == 2
    assert still_open == 1 and held == 1  # the expired one was closed on both sides


def test_a_timed_out_or_cancelled_call_never_lends_its_connection_again():
    async def main():
        async with upstream(delay_s=0.3) as (url, stats), client() as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.get(url, timeout=httpx.Timeout(0.05))
            call = asyncio.ensure_future(c.get(url))
            await asyncio.sleep(0.05)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
            held = c._transport.pool.connections
            answer = (await c.get(url)).json()
            return held, answer, stats["accepted"]

    held, answer, accepted = asyncio.run(main())
    assert held == 0  # both closed, none kept
    assert answer == {"ok": True} and accepted == 3


def test_a_stream_read_to_its_end_gives_its_connection_back():
    async def main():
        async with upstream() as (url, stats), client() as c:
            for _ in range(3):
                async with c.stream("GET", url) as r:
                    body = b"".join([chunk async for chunk in r.aiter_bytes()])
            return body, stats["accepted"]

    body, accepted = asyncio.run(main())
    assert body == b'{"ok":true}' and accepted == 1
