"""The gateway's HTTP protocol: a request the gateway will not serve now is refused from its
head, in the protocol, before uvicorn builds an ASGI scope and task for it.

Under a 4x overload three of every four requests are refused. Through the ASGI stack a
refusal cost the gateway's event loop about 0.09 ms (a task, the telemetry layer's
frame, the shedding layer, two ``send`` calls): at 3,300 refusals/s that is a third of the
one core the gateway runs on, taken from the requests it admitted (bench/README.md,
section 3). Here the same refusal is one pre-built answer written to the transport.

It is the same refusal as the shedding layer's, decided and counted by the same
``Shedder`` (services/gateway/shedding.py): a POST to a guarded route while the gateway is
full, or the adaptive limit is; counted in ``gateway_shed_total`` and, as the telemetry
layer would, in ``http_requests_total`` / ``http_request_duration_seconds`` under its route,
with the client's ``x-request-id`` echoed (or a new one). Anything unusual goes the ASGI
way, which answers it as before: a connection that will not be kept alive (HTTP/1.0,
``connection: close``), a request pipelined behind one still being answered, an
``expect: 100-continue`` (the client waits before sending its body), a fault injected
into the gateway (a refusal is subject to it too). The refused request's body, if any, is
read and dropped by the parser; the receive deadline (services/common/connection.py) still
bounds how long it may take.
"""

from __future__ import annotations

import time
from functools import lru_cache
from http import HTTPStatus

import httptools

from gameday.telemetry.logs import REQUEST_ID_HEADER
from gameday.telemetry.middleware import MAX_REQUEST_ID, new_request_id
from gameday_services.common.connection import BoundedHttpProtocol
from gameday_services.gateway.shedding import CHECKED_UNREAD, GUARDED, Shedder

_HEADER = REQUEST_ID_HEADER.encode()


class _NoEvent:
    def set(self) -> None:
        pass


class _Answered:
    """Stands in for uvicorn's request cycle once the protocol has answered a request: the
    parser's body and end-of-message callbacks see a complete answer and drop the body."""

    __slots__ = ()
    response_complete = True
    response_started = True
    message_event = _NoEvent()


ANSWERED = _Answered()


@lru_cache(maxsize=32)
def refusal_head(status: int, headers: tuple) -> bytes:
    """The status line and fixed headers of a refusal (the date and request id follow)."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()]
    lines += [name + b": " + value + b"\r\n" for name, value in headers]
    return b"".join(lines)


def request_id(headers: list) -> bytes:
    """The client's request id, cut as the telemetry layer cuts it, or a new one."""
    for name, value in headers:
        if name == _HEADER and value:
            return value[:MAX_REQUEST_ID]  # one byte a character: the layer's latin-1
    return new_request_id().encode()


class EarlyRefusalProtocol(BoundedHttpProtocol):
    """Bound to one gateway app by ``protocol_for``."""

    shedder: Shedder
    http_metrics = None  # gameday.telemetry.HttpMetrics of the app
    faults = None  # the app's fault store, if any

    def start_request(self) -> None:
        if not self._refused_early():
            super().start_request()

    def _refused_early(self) -> bool:
        parser = self.parser
        if parser.get_method() != b"POST" or self.expect_100_continue:
            return False
        path = httptools.parse_url(self.url).path.decode("ascii", "replace")
        adaptive = GUARDED.get(path)
        if adaptive is None:
            return False
        if self.cycle is not None and not self.cycle.response_complete:
            return False  # pipelined behind an answer not yet written: in order, the ASGI way
        if parser.get_http_version() != "1.1" or not parser.should_keep_alive():
            return False
        if self.faults is not None and self.faults.has_faults:
            return False
        reason = self.shedder.reason_before_body(adaptive)
        if reason is None:  # the shedding layer does not ask again (the loop-lag rule draws)
            self.scope[CHECKED_UNREAD] = True
            return False
        start = time.perf_counter()
        policy = self.shedder.gateway.policy.admission
        headers, body = self.shedder.count(policy, reason, path)
        dated = b"".join(name + b": " + value + b"\r\n"
                         for name, value in self.server_state.default_headers)
        answer = b"".join((refusal_head(policy.shed_status, tuple(headers)), dated, _HEADER,
                           b": ", request_id(self.headers), b"\r\n\r\n", body))
        if self.http_metrics is not None:  # counted before the client can see the answer
            self.http_metrics.observe(path, "POST", policy.shed_status,
                                      time.perf_counter() - start)
        self.transport.write(answer)
        self.cycle = ANSWERED  # the body, if any, is read and dropped
        self.on_response_complete()  # keep-alive timer, request count: as after any answer
        return True


def protocol_for(app) -> type[EarlyRefusalProtocol]:
    """The protocol class uvicorn runs for the gateway ``app`` (``create_app``'s)."""
    return type("GatewayHttpProtocol", (EarlyRefusalProtocol,),
                {"shedder": app.state.shedder,
                 "http_metrics": getattr(app.state, "http_metrics", None),
                 "faults": getattr(app.state, "faults", None)})
