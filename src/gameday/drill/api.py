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
(gameday.prometheus.webhook), so one bad label does not lose a batch of pages.

The server is a ``gameday.listener.Listener``: bodies over 64 KiB answer 413 before they are
read, slow or idle clients are cut off, and a handler's exception answers a JSON 500.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from gameday.errors import ValidationError
from gameday.listener import LOOPBACK, HandlerApp, Limits, Listener, Reply, Request, short
from gameday.text import clean_json, validate_text

ACTIONS = ("ack", "note", "mitigate", "escalate", "resolve", "diagnose", "role", "hint",
           "judge")
MAX_BODY = 64 * 1024
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Handler = Callable[[str, dict], tuple[int, dict]]


def _refusal(status: int, message: str) -> dict:
    return {"ok": False, "message": message}


class _Routes:
    def __init__(self, token: Callable[[], str], handle_action: Handler,
                 handle_alerts: Callable[[dict], tuple[int, dict]], alerts_need_token: bool,
                 render_metrics: Callable[[], str]) -> None:
        self.token = token
        self.handle_action = handle_action
        self.handle_alerts = handle_alerts
        self.alerts_need_token = alerts_need_token
        self.render_metrics = render_metrics

    def __call__(self, request: Request) -> Reply:
        path = request.path.rstrip("/")
        if request.method in ("GET", "HEAD"):
            return self._get(request, path)
        if request.method == "POST":
            return self._post(request, path)
        return Reply(405, _refusal(405, f"method {short(request.method, 20)} not allowed; "
                                        "GET or POST"), headers=(("allow", "GET, POST"),))

    def _unauthorized(self, request: Request) -> Reply | None:
        given = request.headers.get("authorization", "")
        expected = self.token()
        ok = bool(expected) and given.startswith("Bearer ") and hmac.compare_digest(
            given[7:].encode(), expected.encode())
        if ok:
            return None
        return Reply(401, _refusal(401, "missing or wrong bearer token (the run's token "
                                        "file)"))

    def _body(self, request: Request, refuse_bad_text: bool = True) -> dict | Reply:
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            return Reply(400, _refusal(400, "body is not JSON"))
        if not isinstance(body, dict):
            return Reply(400, _refusal(400, "body must be a JSON object"))
        if not refuse_bad_text:
            return clean_json(body)
        try:
            validate_text(body, "body")
        except ValidationError as err:
            return Reply(400, _refusal(400, short(str(err))))
        return body

    def _get(self, request: Request, path: str) -> Reply:
        if path == "/healthz":
            return Reply(200, {"ok": True})
        if path == "/metrics":  # the drill's events for Prometheus (Grafana annotations)
            return Reply(200, self.render_metrics(), content_type=METRICS_TYPE)
        if path == "/incident":
            refused = self._unauthorized(request)
            return refused or Reply(*self.handle_action("status", {}))
        return Reply(404, _refusal(404, f"no endpoint {short(path, 100)!r}"))

    def _post(self, request: Request, path: str) -> Reply:
        if path == "/alerts":
            # Alertmanager: no token on loopback; listening elsewhere (--webhook-listen), the
            # bearer token too (Alertmanager's http_config.authorization.credentials_file)
            refused = self._unauthorized(request) if self.alerts_need_token else None
            if refused:
                return refused
            body = self._body(request, refuse_bad_text=False)
            return body if isinstance(body, Reply) else Reply(*self.handle_alerts(body))
        action = path.removeprefix("/incident/")
        if not path.startswith("/incident/") or action not in ACTIONS:
            return Reply(404, _refusal(404, f"no endpoint {short(path, 100)!r}; actions: "
                                            f"{', '.join(ACTIONS)}"))
        refused = self._unauthorized(request)
        if refused:
            return refused
        body = self._body(request)
        return body if isinstance(body, Reply) else Reply(*self.handle_action(action, body))


class IncidentServer:
    def __init__(self, token: str | Callable[[], str], handle_action: Handler,
                 handle_alerts: Callable[[dict], tuple[int, dict]],
                 host: str = "127.0.0.1", port: int = 0,
                 render_metrics: Callable[[], str] | None = None) -> None:
        read_token = token if callable(token) else (lambda: token)
        routes = _Routes(read_token, handle_action, handle_alerts,
                         alerts_need_token=host not in LOOPBACK,
                         render_metrics=render_metrics or (lambda: ""))
        self.listener = Listener(HandlerApp(routes, name="incident-api"), host=host,
                                 port=port, limits=Limits(max_body=MAX_BODY),
                                 error_body=_refusal, name="incident-api")

    @property
    def url(self) -> str:
        return self.listener.url

    def start(self) -> IncidentServer:
        self.listener.start()
        return self

    def stop(self) -> None:
        self.listener.stop()
