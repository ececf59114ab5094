"""bench_overload's load generator: HTTP/1.1 POSTs over raw asyncio connections.

The generator shares the host's 2 cores with the stack it measures, so what it costs per
request is taken from the gateway under test. aiohttp on uvloop spent about 0.4 of a core at
1,450 requests/s (bench/README.md, section 3); this client writes pre-built requests on
kept-alive connections and reads only the status line, the Content-Length and the body,
so that an open-loop overload measures the gateway rather than its clients.

Each request's outcome is ``(status, seconds since due, fallback?, due - t0)``; status 0 is
a connection error or a client timeout. Connections are reused (one request at a time on
each, as browsers and SDKs do without pipelining) and opened as needed up to a cap; a
request that finds the cap reached waits for a free connection, and its latency counts
from when it was due.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from urllib.parse import urlsplit

FALLBACKS = (b"cached_answer", b"most_frequent_class")
HEAD_END = b"\r\n\r\n"


class Exchange(asyncio.Protocol):
    """One kept-alive connection: one request in flight at a time."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.fut: asyncio.Future | None = None  # the answer awaited on this connection
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, request: bytes, fut: asyncio.Future) -> None:
        self.fut = fut
        self.timer = self.client.loop.call_later(self.client.timeout_s, self.abort)
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(HEAD_END)
        if end < 0 or self.fut is None:
            return
        head = self.buf[:end].lower()
        start = head.find(b"content-length:")
        if start < 0:  # the gateway's answers all carry one; anything else is an error
            self.finish(0, b"", close=True)
            return
        stop = head.find(b"\r\n", start)
        length = int(head[start + 15:stop if stop > 0 else None])
        if len(self.buf) < end + 4 + length:
            return
        status = int(self.buf[9:12])
        body = self.buf[end + 4:end + 4 + length]
        self.buf = self.buf[end + 4 + length:]
        self.finish(status, body, close=b"connection: close" in head)

    def finish(self, status: int, body: bytes, close: bool = False) -> None:
        fut, self.fut = self.fut, None
        if self.timer is not None:
            self.timer.cancel()
        if not fut.done():
            fut.set_result((status, body))
        if close:
            self.transport.close()
        else:
            self.client.release(self)

    def abort(self) -> None:  # the client timeout: the connection is given up
        if self.fut is not None:
            self.transport.abort()

    def connection_lost(self, exc) -> None:
        self.client.lost(self)
        if self.fut is not None:
            fut, self.fut = self.fut, None
            if self.timer is not None:
                self.timer.cancel()
            if not fut.done():
                fut.set_result((0, b""))


class Client:
    """Kept-alive connections to one host, at most ``max_connections``."""

    def __init__(self, url: str, max_connections: int, timeout_s: float) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path or "/"
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self.loop = asyncio.get_running_loop()
        self.idle: list[Exchange] = []
        self.open = 0
        self.waiting: deque = deque()  # (request, future) for a free connection

    def request_bytes(self, body: bytes) -> bytes:
        return (f"POST {self.path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
                ).encode() + body

    async def post(self, body: bytes) -> tuple[int, bytes]:
        fut = self.loop.create_future()
        request = self.request_bytes(body)
        if self.idle:
            self.idle.pop().send(request, fut)
        elif self.open < self.max_connections:
            self.open += 1
            try:
                _, conn = await self.loop.create_connection(lambda: Exchange(self),
                                                            self.host, self.port)
            except OSError:
                self.open -= 1
                return 0, b""
            conn.send(request, fut)
        else:
            self.waiting.append((request, fut))
        return await fut

    def release(self, conn: Exchange) -> None:
        if self.waiting:
            request, fut = self.waiting.popleft()
            conn.send(request, fut)
        else:
            self.idle.append(conn)

    def lost(self, conn: Exchange) -> None:
        self.open -= 1
        if conn in self.idle:
            self.idle.remove(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.transport.close()


def entity_body(entities: int) -> bytes:
    return json.dumps({"entity_id": f"e{random.randrange(entities):04d}"}).encode()


async def one(client: Client, due: float, out: list, t0: float, entities: int) -> None:
    """One request; appends (status, seconds since due, fallback?, due - t0)."""
    status, body = await client.post(entity_body(entities))
    out.append((status, client.loop.time() - due, any(f in body for f in FALLBACKS),
                due - t0))
