"""Every HTTP listener gameday runs in-process: an ASGI app on a bounded uvicorn server.

The drill's incident API, the embedded engine's query API and the standalone Alertmanager
webhook receiver each answer a few JSON routes from a background thread. ``Listener`` runs
such an app on its own event loop in a daemon thread, and bounds what a client can cost:

- the request line and headers must arrive within ``head_timeout_s`` of connecting (or of
  the previous answer on a kept-alive connection) and fit in ``max_head_bytes`` (h11 counts
  a head still incomplete, so one arriving whole in one socket read, at most 256 KiB, passes);
- the body is capped before it is read: a ``Content-Length`` over ``max_body`` answers 413
  at once, a chunked body is cut off with 413 when it passes the cap, and the whole body
  must arrive within ``body_timeout_s`` (408 otherwise: a client trickling bytes is cut off);
- at most ``max_connections`` connections or requests at once (uvicorn's
  ``limit_concurrency``: 503 past it), idle kept-alive connections close after
  ``keep_alive_s``, and plain handlers run on ``workers`` daemon threads, so the thread
  count stays fixed whatever the number of clients;
- a handler's exception answers a JSON 500 with a short message; nothing is printed: the
  server's own messages go to the ``gameday.listener`` logger, never to the terminal.

``HandlerApp`` turns a plain function ``handle(Request) -> Reply`` into the ASGI app, so a
listener's routes read like the synchronous code they are. A reply whose body is a
``Stream`` (server-sent events) is streamed without holding a handler thread: its
``produce()`` runs every ``interval_s`` on one stream thread of its own, at most
``max_streams`` streams run at once (503 past that), and each ends when ``produce()`` says
so, after ``max_s``, or when the client goes. Refusals made here (400, 408,
413, 500) are shaped by the listener's ``error_body(status, message)``, so each API keeps
its own error format.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from gameday.errors import GamedayError
from gameday.stream import Stream, send_stream

log = logging.getLogger("gameday.listener")
log.addHandler(logging.NullHandler())  # a process without logging set up prints nothing

ErrorBody = Callable[[int, str], dict]
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MESSAGE_CHARS = 200  # error messages quote at most this much of what a client sent


def default_error_body(status: int, message: str) -> dict:
    return {"ok": False, "message": message}


def short(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Limits:
    max_body: int = 64 * 1024
    body_timeout_s: float = 10.0
    head_timeout_s: float = 10.0
    max_head_bytes: int = 64 * 1024
    keep_alive_s: int = 5
    max_connections: int = 512
    workers: int = 4


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str  # the raw query string, without "?"
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict | str | Stream
    content_type: str | None = None  # JSON for a dict, plain text for a str, unless given
    headers: tuple[tuple[str, str], ...] = field(default=())

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict):
            return (json.dumps(self.body, default=str).encode(),
                    self.content_type or "application/json")
        return (self.body.encode("utf-8", "replace"),
                self.content_type or "text/plain; charset=utf-8")


async def send_reply(send, reply: Reply, close: bool = False) -> None:
    data, content_type = reply.encode()
    headers = [(b"content-type", content_type.encode()),
               (b"content-length", str(len(data)).encode())]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BoundedBody:
    """ASGI middleware: the body checked against the cap before it is read, read whole within
    a deadline, then handed to ``app`` in one message; any exception answers 500."""

    def __init__(self, app, limits: Limits, error_body: ErrorBody) -> None:
        self.app = app
        self.limits = limits
        self.error_body = error_body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        started = False

        async def tracked_send(message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            body = await self._read_body(scope, receive)
        except _Refused as err:
            await send_reply(send, Reply(err.status, self.error_body(err.status, str(err))),
                             close=True)
            return
        if body is None:  # the client went away
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self.app(scope, replay, tracked_send)
        except Exception as err:  # noqa: BLE001 - a bug answers 500, the server stays up
            log.warning("%s %s failed: %r", scope.get("method"), short(scope.get("path", "")),
                        err, exc_info=True)
            if not started:
                message = short(f"internal error: {type(err).__name__}: {err}")
                await send_reply(send, Reply(500, self.error_body(500, message)), close=True)

    async def _read_body(self, scope, receive) -> bytes | None:
        cap = self.limits.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                text = value.decode("latin-1")
                if not text.isdigit() or not text.isascii():
                    raise _Refused(400, f"bad Content-Length {short(text, 40)!r}")
                if len(text) > 15 or int(text) > cap:
                    raise _Refused(413, f"body over {cap} bytes (Content-Length {short(text, 40)})")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                more = True
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > cap:
                        raise _Refused(413, f"body over {cap} bytes")
                    chunks.append(chunk)
                    more = message.get("more_body", False)
        except TimeoutError:
            raise _Refused(408, f"body not received within {self.limits.body_timeout_s:g} s"
                           ) from None
        return b"".join(chunks)


class _DaemonPool:
    """``workers`` daemon threads running blocking calls for the event loop. (A
    ThreadPoolExecutor's threads are joined at exit: one stuck handler would hold the
    drill's process open.)"""

    def __init__(self, workers: int, name: str) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def run(self, fn: Callable, arg) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._jobs.put((future, fn, arg))
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, arg = job
            try:
                settle, value = future.set_result, fn(arg)
            except BaseException as err:  # noqa: BLE001 - the request answers 500 instead
                settle = future.set_exception
                value = err if isinstance(err, Exception) else RuntimeError(repr(err))
            try:
                future.get_loop().call_soon_threadsafe(
                    lambda s=settle, v=value, f=future: f.done() or s(v))
            except RuntimeError:  # the loop has closed: nobody waits for the answer
                pass

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)


class HandlerApp:
    """ASGI app calling ``handle(Request) -> Reply`` on ``workers`` daemon threads; a
    ``Stream`` reply is then streamed from the event loop (``max_streams`` at once)."""

    def __init__(self, handle: Callable[[Request], Reply], workers: int = 4,
                 name: str = "listener", max_streams: int = 16) -> None:
        self.handle = handle
        self.name = name
        self.pool = _DaemonPool(workers, name)
        self.max_streams = max_streams
        self.streams = 0  # streams running now (changed on the event loop only)
        self._stream_pool: _DaemonPool | None = None  # one thread, started by the first

    async def __call__(self, scope, receive, send) -> None:
        message = await receive()  # BoundedBody hands over the whole body at once
        if message["type"] == "http.disconnect":
            return
        request = Request(
            method=scope["method"], path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=message.get("body", b""))
        reply = await self.pool.run(self.handle, request)
        if isinstance(reply.body, Stream):
            await self._stream(reply, receive, send)
        else:
            await send_reply(send, reply)

    async def _stream(self, reply: Reply, receive, send) -> None:
        if self.streams >= self.max_streams:
            refusal = {"ok": False, "message": f"too many streams: at most {self.max_streams} "
                                               "at once; retry later"}
            await send_reply(send, Reply(503, refusal, headers=(("retry-after", "5"),)))
            return
        if self._stream_pool is None:
            self._stream_pool = _DaemonPool(1, f"{self.name}-stream")
        self.streams += 1
        try:
            await send_stream(reply.body, reply.status, reply.content_type, reply.headers,
                              receive, send, lambda fn: self._stream_pool.run(fn, None))
        finally:
            self.streams -= 1

    def close(self) -> None:
        self.pool.close()
        if self._stream_pool is not None:
            self._stream_pool.close()


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline for the request head, quiet logging and
    malformed requests answered in the listener's own JSON."""

    head_timeout_s = 10.0
    bad_request = b"{}"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.logger = log
        self.access_log = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm_head_timer()  # the head is in: the body has its own deadline

    def on_response_complete(self) -> None:
        self._arm_head_timer()
        super().on_response_complete()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if (self.cycle is None or self.cycle.response_complete) and \
                not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(self.bad_request)).encode()),
                   (b"connection", b"close")]
        try:
            self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers,
                                                             reason=b"Bad Request")))
            self.transport.write(self.conn.send(h11.Data(data=self.bad_request)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:  # a response was already under way
            pass
        self.transport.close()


class Listener:
    """Serve ``app`` (ASGI) on ``host:port`` (port 0: any free port) from a daemon thread.

    The socket is bound here, so a port in use raises ``OSError`` at once and ``port`` is
    known before ``start()``; ``start()`` returns once the server accepts, ``stop()`` closes
    it within about a second, cutting off requests still running after that."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0,
                 limits: Limits | None = None, error_body: ErrorBody = default_error_body,
                 name: str = "listener") -> None:
        self.limits = limits or Limits()
        self.name = name
        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, port), family=family,
                                          backlog=min(self.limits.max_connections, 1024))
        self.host = host
        self.port = self._sock.getsockname()[1]
        bad = json.dumps(error_body(400, "malformed HTTP request (request line, headers or "
                                         "Content-Length)")).encode()
        protocol = type("Protocol", (_Protocol,), {"head_timeout_s": self.limits.head_timeout_s,
                                                   "bad_request": bad})
        config = uvicorn.Config(
            BoundedBody(app, self.limits, error_body), http=protocol, ws="none",
            lifespan="off", interface="asgi3", log_config=None, access_log=True,
            proxy_headers=False, server_header=False,
            limit_concurrency=self.limits.max_connections,
            timeout_keep_alive=self.limits.keep_alive_s,
            h11_max_incomplete_event_size=self.limits.max_head_bytes)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):  # listening everywhere: reach it on loopback
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Listener:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise GamedayError(f"{self.name}: could not start listening on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self, grace_s: float = 1.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(grace_s)
            self._server.force_exit = True  # stop waiting for requests still running
            self._thread.join(5)
        else:
            self._sock.close()
        close = getattr(self.app, "close", None)
        if close is not None:
            close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # for code that asks get_event_loop() in this thread
        loop.set_exception_handler(
            lambda _loop, context: log.warning("%s: %s", self.name, context.get("message"),
                                               exc_info=context.get("exception")))
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
            for conn in list(self._server.server_state.connections):
                conn.transport.abort()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        except BaseException as err:  # noqa: BLE001 - log it; start() reports the failure
            log.warning("%s stopped: %r", self.name, err, exc_info=True)
        finally:
            self._sock.close()
            loop.close()
