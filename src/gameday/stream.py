"""Streamed replies of a ``gameday.listener`` (server-sent events), sent from the event loop.

A handler returns ``Reply(200, Stream(produce))``; the listener's ``HandlerApp`` then calls
``send_stream``, which sends the head at once and then, every ``interval_s``, what
``produce()`` returns (run on the listener's one stream thread, never a handler thread),
until ``produce()`` returns None, ``max_s`` has passed or the client has gone. A comment
line goes out after ``heartbeat_s`` without data, so the client sees the stream is alive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stream:
    """The body of a streamed reply. ``produce()`` returns the bytes to send now (``b""``:
    nothing new), or None once the stream is over; it must be quick (read a cache, not the
    network): every stream of a listener shares one thread."""

    produce: Callable[[], bytes | None]
    interval_s: float = 1.0
    max_s: float = 3600.0
    heartbeat_s: float = 10.0
    heartbeat: bytes = b": keep-alive\n\n"


async def send_stream(stream: Stream, status: int, content_type: str | None,
                      extra_headers: tuple[tuple[str, str], ...], receive, send,
                      run: Callable[[Callable], Awaitable]) -> None:
    """Stream ``stream`` as one chunked HTTP answer; ``run(fn)`` calls ``fn(None)`` off the
    event loop and returns its result."""
    loop = asyncio.get_running_loop()
    gone = loop.create_task(_client_gone(receive))
    try:
        headers = [(b"content-type", (content_type or "text/event-stream").encode()),
                   (b"cache-control", b"no-store"), (b"x-accel-buffering", b"no")]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra_headers]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        end = loop.time() + stream.max_s
        last_sent = loop.time()
        while not gone.done() and loop.time() < end:
            chunk = await run(lambda _: stream.produce())
            if chunk is None:
                break
            if not chunk and loop.time() - last_sent >= stream.heartbeat_s:
                chunk = stream.heartbeat
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                last_sent = loop.time()
            await asyncio.wait([gone], timeout=stream.interval_s)
        if not gone.done():
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        gone.cancel()


async def _client_gone(receive) -> None:
    """Returns once the client has disconnected (the listener read the body before)."""
    while (await receive())["type"] != "http.disconnect":
        pass
