"""Upstream calls given up on (deadline or client gone) leave the connection pool usable.

httpcore 1.0.9 leaks a pool slot for good when a request is cancelled while it waits for a
connection (encode/httpcore#1093); the gateway never cancels a call, it stops waiting.
"""

import asyncio
import contextlib

import httpx
import pytest

from gameday_services.gateway.calls import UpstreamFailure, request_json


async def serve(delay: dict):
    async def handle(reader, writer):
        with contextlib.suppress(Exception):
            while True:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = await reader.read(4096)
                    if not chunk:
                        return
                    head += chunk
                await asyncio.sleep(delay["s"])
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 11\r\n\r\n{\"ok\":true}")
                await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def slow_upstream():
    """(client with a 2-connection pool, url, delay) against a server answering after
    ``delay["s"]`` (0.3 s to start with)."""
    delay = {"s": 0.3}
    server, port = await serve(delay)
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=1)
    async with server, httpx.AsyncClient(limits=limits) as client:
        yield client, f"http://127.0.0.1:{port}/x", delay


async def abandon_bursts(client, url: str, bursts: int, slots=None) -> list:
    """Bursts of 20 calls that wait for one of 2 connections and give up (deadline, or the
    client going away for every other one); the outcomes of the last burst."""
    results = []
    for _ in range(bursts):
        calls = [asyncio.ensure_future(request_json(
            client, "GET", url, timeout_s=0.05, connect_s=0.05, headers={}, slots=slots))
            for _ in range(20)]
        await asyncio.sleep(0.02)
        for c in calls[::2]:
            c.cancel()  # the client went away
        results = await asyncio.gather(*calls, return_exceptions=True)
    return results


def watch_queue(pool) -> tuple[list[int], asyncio.Task]:
    """How many requests wait in httpcore's pool queue, sampled every 5 ms until the task
    is cancelled."""
    waiting: list[int] = []

    async def watch():
        while True:
            waiting.append(sum(1 for r in pool._requests if r.is_queued()))
            await asyncio.sleep(0.005)

    return waiting, asyncio.ensure_future(watch())


def test_calls_given_up_under_contention_leave_the_pool_usable():
    async def main():
        async with slow_upstream() as (client, url, delay):
            await abandon_bursts(client, url, bursts=5)
            delay["s"] = 0.0
            await asyncio.sleep(0.5)  # the abandoned calls end by their own timeouts
            return await request_json(client, "GET", url, timeout_s=1.0, connect_s=1.0,
                                      headers={})

    try:
        status, body = asyncio.run(main())
    except UpstreamFailure as failure:  # pragma: no cover - the regression
        pytest.fail(f"the pool stayed wedged after the abandoned calls: {failure}")
    assert (status, body) == (200, {"ok": True})


def test_with_slots_no_call_waits_in_the_pool_and_every_slot_comes_back():
    async def main():
        slots = asyncio.Semaphore(2)
        async with slow_upstream() as (client, url, delay):
            pool = client._transport._pool  # httpcore's queue: must stay empty
            waiting, watcher = watch_queue(pool)
            results = await abandon_bursts(client, url, bursts=3, slots=slots)
            delay["s"] = 0.0
            await asyncio.sleep(0.5)
            watcher.cancel()
            answer = await request_json(client, "GET", url, timeout_s=1.0, connect_s=1.0,
                                        headers={}, slots=slots)
            return results, max(waiting), slots._value, answer

    results, most_waiting, free, answer = asyncio.run(main())
    assert all(isinstance(r, UpstreamFailure | asyncio.CancelledError) for r in results)
    assert most_waiting == 0
    assert free == 2
    assert answer == (200, {"ok": True})


def test_llm_streams_given_up_open_no_more_connections_than_slots_and_give_every_slot_back():
    """The same for the llm path, whose streams hold a slot until they close."""
    from prometheus_client import CollectorRegistry

    from gameday_services.gateway.generate import OpenedStream, open_generation
    from gameday_services.gateway.metrics import GatewayMetrics
    from gameday_services.gateway.settings import Settings
    from gameday_services.gateway.state import Gateway

    async def main():
        delay = {"s": 0.3}
        server, port = await serve(delay)
        settings = Settings(llm_url=f"http://127.0.0.1:{port}", max_connections=2,
                            timeouts={"llm_ttft_s": 0.05}, retry={"max_attempts": 1},
                            breaker={"enabled": False})
        gw = Gateway(settings, GatewayMetrics(CollectorRegistry()))
        async with server:
            await gw.start()
            pool = gw.llm.client._transport.pool  # the gateway's own: no queue in it
            waiting: list[int] = []  # connections open, sampled every 5 ms

            async def watch():
                while True:
                    waiting.append(pool.connections)
                    await asyncio.sleep(0.005)

            watcher = asyncio.ensure_future(watch())
            for _ in range(3):
                calls = [asyncio.ensure_future(open_generation(gw, gw.policy, {}, {}))
                         for _ in range(20)]
                await asyncio.sleep(0.02)
                for c in calls[::2]:
                    c.cancel()
                results = await asyncio.gather(*calls, return_exceptions=True)
            delay["s"] = 0.0
            await asyncio.sleep(0.5)
            watcher.cancel()
            opened = await open_generation(gw, gw.policy, {}, {})
            first = opened.first if isinstance(opened, OpenedStream) else None
            held_while_open = gw.llm.slots._value
            await opened.aclose()
            free = gw.llm.slots._value
            await gw.stop()
        return results, max(waiting), first, held_while_open, free

    results, most_open, first, held_while_open, free = asyncio.run(main())
    assert all(isinstance(r, UpstreamFailure | asyncio.CancelledError) for r in results)
    assert 1 <= most_open <= 2  # never more connections than slots
    assert first == b'{"ok":true}'
    assert (held_while_open, free) == (1, 2)
