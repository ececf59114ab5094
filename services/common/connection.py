"""The HTTP connection every service runs: uvicorn's httptools protocol with a deadline.

uvicorn bounds concurrency (``limit_concurrency``), idle kept-alive connections
(``timeout_keep_alive``) and, with h11 only, the size of a request's head
(``h11_max_incomplete_event_size``), but has no timeout on receiving a request: its
keep-alive timer is reset by every byte, so a client sending a byte every few seconds holds
its connection (and, once the app runs, an ASGI task) for ever (uvicorn issue #157). This
protocol adds, for the httptools parser the services run on:

- a deadline per request: its head and body must arrive within ``RECEIVE_TIMEOUT_S`` of the
  connection opening or of the request's first byte on a kept-alive connection; past it,
  a 408 when no answer has started, and the connection is closed (the app, if it was
  waiting for the body, sees the client leave). One timer per server checks the
  deadlines every ``SWEEP_S`` (a timer per request cost 8% of a trivial request's CPU);
- a cap on the request head (request line and headers): past ``MAX_HEAD_BYTES``, a 431 and
  the connection is closed: counted across reads while the head is incomplete (so the
  parser never holds much more than the cap), and measured when it completes within one.

The gateway's shedding layer reads the bodies of its admitted routes within a shorter
timeout of its own (services/gateway/shedding.py).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gameday_services.common.limits import MAX_HEAD_BYTES, RECEIVE_TIMEOUT_S


def plain_answer(status: int, reason: str, text: str) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection."""
    body = text.encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


SWEEP_S = 0.5  # how often deadlines are checked: a request is cut within this after its own
TIMED_OUT = plain_answer(408, "Request Timeout",
                         f"request not received within {RECEIVE_TIMEOUT_S:g} s")
HEAD_TOO_LARGE = plain_answer(431, "Request Header Fields Too Large",
                              f"request line and headers over {MAX_HEAD_BYTES} bytes")


class HeadTooLarge(Exception):
    """Raised from the parser's callback to stop it at a head over the cap."""


def sweep_every(loop, connections: set, interval_s: float = SWEEP_S) -> None:
    """Close, every ``interval_s``, the connections of ``connections`` (a server's) whose
    request has been arriving for longer than their deadline. One timer per server instead
    of one per request: a timer per request cost 8% of a trivial request's CPU."""
    if id(connections) in _swept:
        return
    _swept.add(id(connections))

    def sweep() -> None:
        now = loop.time()
        for conn in list(connections):
            started = getattr(conn, "receiving_since", None)
            if started is not None and now - started > conn.receive_timeout_s:
                conn.expire()
        loop.call_later(interval_s, sweep)

    loop.call_later(interval_s, sweep)


_swept: set[int] = set()


class BoundedHttpProtocol(HttpToolsProtocol):
    """httptools protocol with a receive deadline per request and a cap on its head."""

    receive_timeout_s = RECEIVE_TIMEOUT_S
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.receiving_since: float | None = None  # loop time a request began arriving
        self._in_head = True
        self._head_bytes = 0
        self._read_bytes = 0  # the read being parsed
        self._marks = 0  # heads and messages complete on this connection
        self._head_too_large = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.receiving_since = self.loop.time()
        sweep_every(self.loop, self.connections)

    def data_received(self, data: bytes) -> None:
        if self.receiving_since is None:  # the first bytes of the next request
            self.receiving_since = self.loop.time()
        marks = self._marks
        self._read_bytes = len(data)
        super().data_received(data)  # one read's worth (the parser streams it)
        # Counted only when this read is all head: no head or message ended within it (a
        # read that did holds the end of a body or head too; at most one read uncounted).
        if self._in_head and self._marks == marks:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(HEAD_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._marks += 1
        if self._head_bytes + self._read_bytes > self.max_head_bytes:  # it may be over: measure
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > self.max_head_bytes:  # a head that came in one read: never reaches the app
                self._head_too_large = True
                raise HeadTooLarge(size)  # the parser stops; send_400_response answers 431
        self.start_request()

    def start_request(self) -> None:
        """A head within the cap is here: uvicorn builds the request's scope and runs the
        app (a subclass may answer it itself first: services/gateway/early.py)."""
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse(HEAD_TOO_LARGE)
        else:
            super().send_400_response(msg)

    def on_message_complete(self) -> None:
        self.receiving_since = None  # all of it is here: what the app does is not timed here
        self._in_head, self._head_bytes = True, 0
        self._marks += 1
        super().on_message_complete()

    def expire(self) -> None:
        """The request did not arrive in time: 408 unless an answer has started; closed."""
        self.receiving_since = None
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # an answer is on its way: no second one
        else:
            self._refuse(TIMED_OUT)

    def _refuse(self, answer: bytes) -> None:
        self.receiving_since = None
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()
