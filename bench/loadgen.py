"""bench_overload's load generator: HTTP/1.1 POSTs over raw asyncio connections.

The generator shares the host's 2 cores with the stack it measures, so what it costs per
request is taken from the gateway under test. aiohttp on uvloop spent about 0.4 of a core at
1,450 requests/s (bench/README.md, section 3). Here a request is a pre-built byte string
written to a kept-alive connection, and its answer is read in the connection's callback
(the status line, the Content-Length and the body): no task, coroutine, future or timer
per request. The client timeout is one sweep every ``SWEEP_S`` over the connections in
use. At 3,000 requests/s against a gateway refusing every request this costs 0.046-0.063
ms of CPU a request, where a task, a future and a timer per request cost 0.068-0.096 ms
(bench/README.md, section 3): about 0.1 of a core less at 4x, taken from the stack under
test.

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
SWEEP_S = 0.1  # how often connections waiting past the client timeout are given up


class Exchange(asyncio.Protocol):
    """One kept-alive connection: one request in flight at a time."""

    __slots__ = ("client", "transport", "buf", "due", "sent_at", "done")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.due: float | None = None  # when the request in flight was due; None: idle
        self.sent_at = 0.0
        self.done = None  # called with the outcome of the request in flight

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, request: bytes, due: float, done) -> None:
        self.due, self.done = due, done
        self.sent_at = self.client.loop.time()
        self.client.busy.add(self)
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        self.buf = buf
        end = buf.find(HEAD_END)
        if end < 0 or self.due is None:
            return
        head = buf[:end].lower()
        start = head.find(b"content-length:")
        if start < 0:  # the gateway's answers all carry one; anything else is an error
            self.finish(0, b"", close=True)
            return
        stop = head.find(b"\r\n", start)
        length = int(head[start + 15:stop if stop > 0 else None])
        if len(buf) < end + 4 + length:
            return
        body = buf[end + 4:end + 4 + length]
        self.buf = buf[end + 4 + length:]
        self.finish(int(buf[9:12]), body, close=b"connection: close" in head)

    def finish(self, status: int, body: bytes, close: bool = False) -> None:
        due, done = self.due, self.done
        self.due = self.done = None
        client = self.client
        client.busy.discard(self)
        if close:
            self.transport.close()
        else:
            client.release(self)
        client.record(status, due, body, done)

    def abort(self) -> None:  # the client timeout: the connection is given up
        self.transport.abort()

    def connection_lost(self, exc) -> None:
        self.client.lost(self)
        if self.due is not None:
            due, done = self.due, self.done
            self.due = self.done = None
            self.client.busy.discard(self)
            self.client.record(0, due, b"", done)


class Client:
    """Kept-alive connections to one host, at most ``max_connections``; every outcome is
    appended to ``out`` as ``(status, seconds since due, fallback?, due - t0)``."""

    def __init__(self, url: str, max_connections: int, timeout_s: float,
                 entities: int = 1000, out: list | None = None, t0: float = 0.0) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path or "/"
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self.loop = asyncio.get_running_loop()
        self.out = [] if out is None else out
        self.t0 = t0
        self.requests = [self.request_bytes(entity_body(i)) for i in range(entities)]
        self.idle: list[Exchange] = []
        self.busy: set[Exchange] = set()
        self.open = 0
        self.waiting: deque = deque()  # (due, done) of requests waiting for a connection
        self.pending = 0  # requests submitted and not yet recorded
        self.drained: asyncio.Future | None = None
        self.sweeper = self.loop.call_later(SWEEP_S, self.sweep)

    def request_bytes(self, body: bytes) -> bytes:
        return (f"POST {self.path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
                ).encode() + body

    def submit(self, due: float, done=None) -> None:
        """Send one request (a random entity) due at ``due``; ``done()`` after its outcome
        is recorded."""
        self.pending += 1
        if self.idle:
            self.idle.pop().send(random.choice(self.requests), due, done)
        elif self.open < self.max_connections:
            self.open += 1
            self.loop.create_task(self.connect(due, done))
        else:
            self.waiting.append((due, done))

    async def connect(self, due: float, done) -> None:
        try:
            _, conn = await self.loop.create_connection(lambda: Exchange(self),
                                                        self.host, self.port)
        except OSError:
            self.open -= 1
            self.record(0, due, b"", done)
            self.connect_waiting()  # each waiting request tries a connection of its own
            return
        conn.send(random.choice(self.requests), due, done)

    def record(self, status: int, due: float, body: bytes, done) -> None:
        out = self.out
        out.append((status, self.loop.time() - due,
                    body.find(FALLBACKS[0]) >= 0 or body.find(FALLBACKS[1]) >= 0,
                    due - self.t0))
        self.pending -= 1
        if done is not None:
            done()
        if self.pending == 0 and self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def release(self, conn: Exchange) -> None:
        if self.waiting:
            due, done = self.waiting.popleft()
            conn.send(random.choice(self.requests), due, done)
        else:
            self.idle.append(conn)

    def lost(self, conn: Exchange) -> None:
        self.open -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        self.connect_waiting()

    def connect_waiting(self) -> None:
        """A request waiting for a connection opens one, if the cap allows."""
        if self.waiting and self.open < self.max_connections:
            self.open += 1
            self.loop.create_task(self.connect(*self.waiting.popleft()))

    def sweep(self) -> None:
        late = self.loop.time() - self.timeout_s
        for conn in [c for c in self.busy if c.sent_at <= late]:
            conn.abort()
        self.sweeper = self.loop.call_later(SWEEP_S, self.sweep)

    async def drain(self) -> None:
        """Until every submitted request has its outcome."""
        if self.pending:
            self.drained = self.loop.create_future()
            await self.drained

    def close(self) -> None:
        self.sweeper.cancel()
        for conn in self.idle:
            conn.transport.close()


def entity_body(i: int) -> bytes:
    return json.dumps({"entity_id": f"e{i:04d}"}).encode()


async def one(client: Client, due: float) -> tuple:
    """One request, awaited; returns (and records) its outcome."""
    fut = client.loop.create_future()
    client.submit(due, lambda: fut.set_result(client.out[-1]))
    return await fut
