"""The gateway's JSON calls to its upstreams: HTTP/1.1 over asyncio's own transports.

Every classify makes two upstream calls (features, then a classifier replica). Over httpx
they took about half of the gateway's CPU: httpx's client layers, httpcore's connection,
h11's parser and anyio's cancel scopes, several coroutine layers per call (py-spy of
bench/bench_overload.py; bench/README.md, section 3). This client is one
``asyncio.Protocol`` per kept-alive connection that writes a pre-built request and parses
the answer's head and body itself:

- one request at a time per connection; idle connections are kept per origin on a stack,
  last used on top, at most ``max_idle`` per origin, and closed after ``keepalive_s`` idle
  (below uvicorn's 5 s, so the server is not the one to close them) or as soon as the
  server closes them (the event loop tells the protocol at once: nothing is polled);
- a reused connection that the server closed before any byte of the answer came (the
  keep-alive race) is retried once on a new connection, as browsers do;
- the answer's body: Content-Length, chunked, or up to the close; a 1xx head is skipped.
  A head over ``MAX_HEAD`` or a body over ``MAX_BODY`` bytes, or anything that is not
  HTTP/1.x, fails the call as an unusable answer and closes the connection;
- the whole call has a deadline (``timeout_s``; the connect alone ``connect_s``); on the
  deadline, a failure or a cancellation the connection is closed, never reused, so a
  call given up on leaves nothing behind (no pool slot held, no task running on).

Failures are ``WireError`` with the gateway's failure kinds: ``timeout``, ``connect_error``
(no connection, or it broke before a whole answer came) and ``error`` (an answer that is
not usable HTTP). The llm's streamed answers stay on httpx (services/gateway/generate.py).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import re
import time
from typing import Any
from urllib.parse import urlsplit

HEAD_END = b"\r\n\r\n"
MAX_HEAD = 16 * 1024  # bytes of an answer's status line and headers
MAX_BODY = 1024 * 1024  # bytes of an answer's body: a features row or a prediction is < 1 KiB
KEEPALIVE_S = 4.0  # idle connections are closed after this; uvicorn closes them after 5 s
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name
BAD_VALUE = re.compile(r"[\r\n\x00]")


class WireError(Exception):
    """A call without a usable answer; ``kind`` is one of the gateway's failure kinds."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}")


class Answer:
    """An upstream's answer: status, headers (names in lower case) and body."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return jsonlib.loads(self.body)


class _Head:
    __slots__ = ("status", "headers", "length", "chunked")

    def __init__(self, status: int, headers: dict[str, str], length: int | None,
                 chunked: bool) -> None:
        self.status, self.headers, self.length, self.chunked = status, headers, length, chunked


def parse_head(head: bytes, bodyless: bool = False) -> _Head:
    """The status line and headers of an answer (without the blank line); ValueError when
    it is not HTTP/1.x. ``bodyless``: the request cannot have a body in its answer."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") \
            or len(parts[1]) != 3 or not parts[1].isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"malformed header line: {line[:60]!r}")
        key = name.decode("latin-1").lower()
        text = value.strip().decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    length: int | None = None
    if bodyless or status in (204, 304) or 100 <= status < 200:
        length, chunked = 0, False
    elif not chunked and "content-length" in headers:
        value = headers["content-length"]
        if not value.isdigit():
            raise ValueError(f"bad Content-Length: {value[:40]!r}")
        length = int(value)
    return _Head(status, headers, length, chunked)


class _Connection(asyncio.Protocol):
    """One kept-alive connection to an upstream, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self.received = 0  # bytes of the current answer so far
        self._fut: asyncio.Future | None = None
        self._buf = bytearray()
        self._head: _Head | None = None
        self._body = bytearray()
        self._chunk_left: int | None = None  # chunked: bytes left in the current chunk
        self._bodyless = False
        self.reusable = False  # after an answer: the connection may take another request

    # -- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self._fut is None or self._fut.done():
            return
        head = self._head
        if head is not None and head.length is None and not head.chunked:
            self._finish(bytes(self._body), reusable=False)  # a body up to the close
        else:
            self._fail("connect_error", "connection closed before a whole answer came")

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost decides about the answer

    def data_received(self, data: bytes) -> None:
        if self._fut is None or self._fut.done():  # nothing asked: the server is confused
            self.closed = True
            self.transport.close()
            return
        self.received += len(data)
        self._buf += data
        try:
            self._parse()
        except ValueError as e:
            self._fail("error", f"unusable answer: {e}")

    # -- one exchange ------------------------------------------------------------------
    def send(self, request: bytes, fut: asyncio.Future, bodyless: bool) -> None:
        self._fut = fut
        self._buf.clear()
        self._body.clear()
        self._head = None
        self._chunk_left = None
        self._bodyless = bodyless
        self.received = 0
        self.reusable = False
        self.transport.write(request)

    def _parse(self) -> None:
        while self._head is None:
            end = self._buf.find(HEAD_END)
            if end < 0:
                if len(self._buf) > MAX_HEAD:
                    raise ValueError(f"head over {MAX_HEAD} bytes")
                return
            if end > MAX_HEAD:
                raise ValueError(f"head over {MAX_HEAD} bytes")
            head = parse_head(bytes(self._buf[:end]), self._bodyless)
            del self._buf[:end + 4]
            if 100 <= head.status < 200:
                continue  # 100 Continue and the like: the answer follows
            self._head = head
        head = self._head
        if head.chunked:
            self._parse_chunks()
        elif head.length is not None:
            if head.length > MAX_BODY:
                raise ValueError(f"body of {head.length} bytes, over {MAX_BODY}")
            if len(self._buf) >= head.length:
                body = bytes(self._buf[:head.length])
                extra = len(self._buf) > head.length
                self._finish(body, reusable=not extra and self._keep_alive())
        else:  # up to the close
            self._body += self._buf
            self._buf.clear()
            if len(self._body) > MAX_BODY:
                raise ValueError(f"body over {MAX_BODY} bytes")

    def _parse_chunks(self) -> None:
        while True:
            if self._chunk_left is None:  # a chunk-size line
                end = self._buf.find(b"\r\n")
                if end < 0:
                    if len(self._buf) > 1024:
                        raise ValueError("chunk size line too long")
                    return
                size = bytes(self._buf[:end]).split(b";", 1)[0].strip()
                try:
                    self._chunk_left = int(size, 16)
                except ValueError:
                    raise ValueError(f"bad chunk size {size[:20]!r}") from None
                if self._chunk_left < 0:
                    raise ValueError("bad chunk size")
                del self._buf[:end + 2]
                if len(self._body) + self._chunk_left > MAX_BODY:
                    raise ValueError(f"body over {MAX_BODY} bytes")
            if self._chunk_left == 0:  # the last chunk: trailers up to a blank line
                end = self._buf.find(b"\r\n")
                while end > 0:  # a trailer line: skipped
                    del self._buf[:end + 2]
                    end = self._buf.find(b"\r\n")
                if end < 0:
                    if len(self._buf) > MAX_HEAD:
                        raise ValueError("trailers too long")
                    return
                del self._buf[:2]
                extra = len(self._buf) > 0
                self._finish(bytes(self._body), reusable=not extra and self._keep_alive())
                return
            if len(self._buf) < self._chunk_left + 2:
                return
            if self._buf[self._chunk_left:self._chunk_left + 2] != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            self._body += self._buf[:self._chunk_left]
            del self._buf[:self._chunk_left + 2]
            self._chunk_left = None

    def _keep_alive(self) -> bool:
        return "close" not in self._head.headers.get("connection", "").lower()

    def _finish(self, body: bytes, reusable: bool) -> None:
        fut, self._fut = self._fut, None
        self.reusable = reusable and not self.closed
        self.idle_since = time.monotonic()
        if not fut.done():
            fut.set_result(Answer(self._head.status, self._head.headers, body))

    def _fail(self, kind: str, detail: str) -> None:
        fut, self._fut = self._fut, None
        self.closed = True
        self.transport.close()
        if fut is not None and not fut.done():
            fut.set_exception(WireError(kind, detail))


def build_request(method: str, url: str, headers: dict[str, str],
                  json: Any = None) -> tuple[tuple[str, int], bytes]:
    """The origin ``(host, port)`` and the bytes of the request; ValueError for a URL that
    is not plain http or a header that would not be one header line."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http:// URLs with a host: {url!r}")
    host, port = parts.hostname, parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"host: {parts.netloc}"]
    body = b""
    if json is not None:
        body = jsonlib.dumps(json, separators=(",", ":"), allow_nan=False).encode()
        lines.append("content-type: application/json")
    if json is not None or method not in ("GET", "HEAD"):
        lines.append(f"content-length: {len(body)}")
    for name, value in headers.items():
        if not TOKEN.match(name) or BAD_VALUE.search(value):
            raise ValueError(f"header {name!r} cannot be sent as one header line")
        lines.append(f"{name}: {value}")
    return (host, port), ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class WireClient:
    """Kept-alive HTTP/1.1 connections per origin for the gateway's JSON calls."""

    def __init__(self, max_idle: int, keepalive_s: float = KEEPALIVE_S) -> None:
        self.max_idle = max_idle
        self.keepalive_s = keepalive_s
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()

    @property
    def connections(self) -> int:
        """Connections open now, idle or in use."""
        return len(self._open)

    async def request(self, method: str, url: str, *, timeout_s: float, connect_s: float,
                      headers: dict[str, str] | None = None, json: Any = None) -> Answer:
        """One call within ``timeout_s``; raises WireError (ValueError for a request that
        cannot be written)."""
        origin, data = build_request(method, url, headers or {}, json)
        try:
            async with asyncio.timeout(timeout_s):
                conn, reused = await self._take(origin, min(connect_s, timeout_s))
                try:
                    return await self._exchange(conn, origin, data, method == "HEAD")
                except WireError as e:
                    # the keep-alive race: the server closed an idle connection as we
                    # wrote to it; nothing came back, so the request was not taken
                    if not (reused and e.kind == "connect_error" and conn.received == 0):
                        raise
                conn, _ = await self._take(origin, min(connect_s, timeout_s), fresh=True)
                return await self._exchange(conn, origin, data, method == "HEAD")
        except TimeoutError:
            raise WireError("timeout", "no answer in time") from None

    async def _exchange(self, conn: _Connection, origin: tuple[str, int], data: bytes,
                        bodyless: bool) -> Answer:
        fut = asyncio.get_running_loop().create_future()
        try:
            conn.send(data, fut, bodyless)
            answer = await fut
        except BaseException:  # failed, timed out or cancelled: never reused
            self._close(conn)
            raise
        self._give_back(conn, origin)
        return answer

    async def _take(self, origin: tuple[str, int], connect_s: float,
                    fresh: bool = False) -> tuple[_Connection, bool]:
        """An idle connection to ``origin`` (reused: True) or a new one."""
        stack = self._idle.get(origin)
        now = time.monotonic()
        while stack and not fresh:
            conn = stack.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_s:
                return conn, True
            self._close(conn)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_s):
                _, conn = await loop.create_connection(_Connection, *origin)
        except TimeoutError:
            raise WireError("timeout", "no connection in time") from None
        except OSError as e:
            raise WireError("connect_error", f"{type(e).__name__}: {e.strerror or e}") from None
        self._open.add(conn)
        return conn, False

    def _give_back(self, conn: _Connection, origin: tuple[str, int]) -> None:
        if not conn.reusable or conn.closed:
            self._close(conn)
            return
        stack = self._idle.setdefault(origin, [])
        if stack and (stack[0].closed
                      or time.monotonic() - stack[0].idle_since >= self.keepalive_s):
            self._close(stack.pop(0))  # the longest idle, checked one per call
        if len(stack) >= self.max_idle:
            self._close(conn)
            return
        stack.append(conn)

    def _close(self, conn: _Connection) -> None:
        self._open.discard(conn)
        conn.closed = True
        if conn.transport is not None:
            conn.transport.close()

    async def aclose(self) -> None:
        for conn in list(self._open):
            self._close(conn)
        self._idle.clear()
