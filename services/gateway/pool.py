"""The gateway's upstream connection pool: keep-alive connections per origin, cheap per call.

httpcore 1.0.9's ``AsyncConnectionPool`` walks every connection it holds twice per request
(when the request arrives and when its response closes), asks each idle one whether its
socket has become readable (one poll(2) each) and counts the idle ones again for each idle
one. Under overload, with a few dozen connections per upstream, that walk was about a
quarter of the gateway's CPU (py-spy of bench/bench_overload.py at 4x).

This pool keeps each origin's idle connections on a stack, last used on top: a call takes
the top one and checks only that one; a connection given back checks the bottom one, the
longest idle, and closes it once its keep-alive has run out or the server has closed it.
It never queues: the gateway's own slots per upstream (``calls.take_slot``) bound the calls
in flight, so no request waits in here (the wait whose cancellation leaked a slot of
httpcore's pool for good, encode/httpcore#1093, does not exist). A connection whose request
failed or was cancelled is closed, never reused.

``PooledTransport`` is httpx's own transport (request and error mapping unchanged) over it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpcore
import httpx

KEEPALIVE_S = 5.0  # httpx's default keep-alive expiry; uvicorn closes idle ones after 5 s


class Pool:
    """Keep-alive HTTP/1.1 connections per origin; at most ``max_idle`` idle per origin."""

    def __init__(self, max_idle: int, keepalive_s: float = KEEPALIVE_S) -> None:
        self.max_idle = max_idle
        self.keepalive_s = keepalive_s
        self._idle: dict[tuple, list[httpcore.AsyncHTTPConnection]] = {}  # by origin
        self._open: set[httpcore.AsyncHTTPConnection] = set()

    @property
    def connections(self) -> int:
        """Connections open now, idle or in use."""
        return len(self._open)

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        origin = request.url.origin
        conn = await self._take(origin)
        try:
            response = await conn.handle_async_request(request)
        except BaseException:
            await self._close(conn)
            raise
        return httpcore.Response(status=response.status, headers=response.headers,
                                 content=_Released(response.stream, self, conn, origin),
                                 extensions=response.extensions)

    async def _take(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        stack = self._idle.get(_key(origin))
        while stack:
            conn = stack.pop()
            if conn.is_idle() and not conn.has_expired():
                return conn
            await self._close(conn)
        conn = httpcore.AsyncHTTPConnection(origin=origin, keepalive_expiry=self.keepalive_s)
        self._open.add(conn)
        return conn

    async def give_back(self, conn: httpcore.AsyncHTTPConnection,
                        origin: httpcore.Origin) -> None:
        """``conn``'s response has closed: keep it for the next call if it can take one."""
        if not conn.is_idle():
            await self._close(conn)
            return
        stack = self._idle.setdefault(_key(origin), [])
        if stack and stack[0].has_expired():
            await self._close(stack.pop(0))
        if len(stack) >= self.max_idle:
            await self._close(conn)
            return
        stack.append(conn)

    async def _close(self, conn: httpcore.AsyncHTTPConnection) -> None:
        self._open.discard(conn)
        with anyio.CancelScope(shield=True):
            try:
                await conn.aclose()
            except Exception:  # closing a broken socket: it is gone either way
                pass

    async def aclose(self) -> None:
        for conn in list(self._open):
            await self._close(conn)
        self._idle.clear()

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def _key(origin: httpcore.Origin) -> tuple[bytes, bytes, int]:
    return origin.scheme, origin.host, origin.port  # an Origin is not hashable


class _Released:
    """A response body that gives its connection back to the pool when it is closed."""

    def __init__(self, stream, pool: Pool, conn: httpcore.AsyncHTTPConnection,
                 origin: httpcore.Origin) -> None:
        self._stream, self._pool, self._conn, self._origin = stream, pool, conn, origin
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            if hasattr(self._stream, "aclose"):
                await self._stream.aclose()
        finally:
            with anyio.CancelScope(shield=True):
                await self._pool.give_back(self._conn, self._origin)


class PooledTransport(httpx.AsyncHTTPTransport):
    """httpx's transport for plain HTTP over ``Pool`` instead of httpcore's pool."""

    def __init__(self, max_idle: int, keepalive_s: float = KEEPALIVE_S) -> None:
        super().__init__()
        self._pool = Pool(max_idle, keepalive_s)

    @property
    def pool(self) -> Pool:
        return self._pool
