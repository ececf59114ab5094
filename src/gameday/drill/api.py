"""The drill controller's incident API: loopback HTTP, bearer token (the run's token).

    GET  /incident              what the responder may know now (pages, alerts, hints shown)
    POST /incident/<action>     ack | note | mitigate | escalate | resolve | diagnose | role | hint
    POST /alerts                Alertmanager's webhook (--prometheus)
    GET  /metrics               gameday_drill_events_total{kind}: the responders' side of
                                the timeline, for Prometheus and Grafana annotations

``gameday incident ...`` is the client; it finds the URL in ``<run>/drill.json``. Bodies are
JSON objects; answers are JSON with ``ok`` and a ``message`` or the data asked for. Text in
a body must be valid Unicode: an incident action holding a lone surrogate (``"\\ud800"``) is
refused with 400 naming the field; in an Alertmanager payload it is replaced by U+FFFD
(gameday.metrics.webhook), so one bad label does not lose a batch of pages.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from gameday.errors import ValidationError
from gameday.text import clean_json, validate_text

ACTIONS = ("ack", "note", "mitigate", "escalate", "resolve", "diagnose", "role", "hint",
           "judge")
MAX_BODY = 64 * 1024

Handler = Callable[[str, dict], tuple[int, dict]]


class _RequestHandler(BaseHTTPRequestHandler):
    token: Callable[[], str]
    handle_action: Handler
    handle_alerts: Callable[[dict], tuple[int, dict]]
    alerts_need_token: bool = False
    render_metrics: Callable[[], str] = staticmethod(lambda: "")

    def log_message(self, format: str, *args) -> None:
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        given = self.headers.get("Authorization", "")
        expected = self.token()
        ok = bool(expected) and given.startswith("Bearer ") and hmac.compare_digest(
            given[7:].encode(), expected.encode())
        if not ok:
            self._reply(401, {"ok": False, "message": "missing or wrong bearer token (the "
                                                      "run's token file)"})
        return ok

    def _body(self, refuse_bad_text: bool = True) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, {"ok": False, "message": f"body over {MAX_BODY} bytes"})
            return None
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            self._reply(400, {"ok": False, "message": "body is not JSON"})
            return None
        if not isinstance(body, dict):
            self._reply(400, {"ok": False, "message": "body must be a JSON object"})
            return None
        if not refuse_bad_text:
            return clean_json(body)
        try:
            validate_text(body, "body")
        except ValidationError as err:
            self._reply(400, {"ok": False, "message": str(err)})
            return None
        return body

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/healthz":
            self._reply(200, {"ok": True})
        elif path == "/metrics":  # the drill's events for Prometheus (Grafana annotations)
            data = self.render_metrics().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif path == "/incident":
            if self._authorized():
                self._reply(*self.handle_action("status", {}))
        else:
            self._reply(404, {"ok": False, "message": f"no endpoint {path!r}"})

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/alerts":
            # Alertmanager: no token on loopback; listening elsewhere (--webhook-listen), the
            # bearer token too (Alertmanager's http_config.authorization.credentials_file)
            if self.alerts_need_token and not self._authorized():
                return
            body = self._body(refuse_bad_text=False)
            if body is not None:
                self._reply(*self.handle_alerts(body))
            return
        action = path.removeprefix("/incident/")
        if not path.startswith("/incident/") or action not in ACTIONS:
            self._reply(404, {"ok": False, "message": f"no endpoint {path!r}; actions: "
                                                      f"{', '.join(ACTIONS)}"})
            return
        if not self._authorized():
            return
        body = self._body()
        if body is not None:
            self._reply(*self.handle_action(action, body))


class IncidentServer:
    def __init__(self, token: str | Callable[[], str], handle_action: Handler,
                 handle_alerts: Callable[[dict], tuple[int, dict]],
                 host: str = "127.0.0.1", port: int = 0,
                 render_metrics: Callable[[], str] | None = None) -> None:
        read_token = token if callable(token) else (lambda: token)
        handler = type("Handler", (_RequestHandler,), {
            "token": staticmethod(read_token), "handle_action": staticmethod(handle_action),
            "handle_alerts": staticmethod(handle_alerts),
            "alerts_need_token": host not in ("127.0.0.1", "localhost", "::1"),
            **({"render_metrics": staticmethod(render_metrics)} if render_metrics else {})})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="incident-api",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        if host in ("0.0.0.0", "::", ""):  # listening everywhere: reach it on loopback
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    def start(self) -> IncidentServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
