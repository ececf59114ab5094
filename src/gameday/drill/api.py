"""The drill controller's incident API: HTTP, one bearer token per role.

    GET  /incident              what a responder may know now (pages, alerts, hints shown)
    POST /incident/<action>     ack | note | mitigate | escalate | resolve | diagnose | role |
                                hint; judge (facilitator only, as /facilitator/judge)
    GET  /facilitator/state     the answer key, hints not yet taken, the fault's real state
    POST /facilitator/<action>  pause | resume | extend {"seconds"} | abort {"reason"} |
                                judge {"correct", "reason"}
    POST /alerts                Alertmanager's webhook (--prometheus)
    GET  /metrics               gameday_drill_events_total{kind}: the responders' side of
                                the timeline, for Prometheus and Grafana annotations
    /console, /console/...      the web console, when the controller gives one (one hook)

Credentials (docs/team.md): a drill makes a facilitator token and a responder token (and
one per person with ``--responders``), files of mode 0600 in the run folder. Every request
carries ``Authorization: Bearer <token>``; the token resolves to a role. No or a wrong
token answers 401; a responder's token on a facilitator endpoint answers 403, so the answer
key and the facilitator's actions are never reachable with it. The services' admin token
(``<run>/token``) is neither: it only delivers alerts (Alertmanager's credentials file) and
reads /metrics. On loopback /alerts and /metrics need no token; bound to any other address
every endpoint but /healthz needs one.

``gameday incident ...`` is the client. Bodies are JSON objects; answers are JSON with
``ok`` and a ``message`` or the data asked for. Text in a body must be valid Unicode: an
incident action holding a lone surrogate (``"\\ud800"``) is refused with 400 naming the
field; in an Alertmanager payload it is replaced by U+FFFD (gameday.prometheus.webhook), so
one bad label does not lose a batch of pages.

The server is a ``gameday.listener.Listener``: bodies over 64 KiB answer 413 before they are
read, slow or idle clients are cut off, and a handler's exception answers a JSON 500.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass

from gameday.errors import ValidationError
from gameday.listener import LOOPBACK, HandlerApp, Limits, Listener, Reply, Request, short
from gameday.text import clean_json, validate_text

ACTIONS = ("ack", "note", "mitigate", "escalate", "resolve", "diagnose", "role", "hint",
           "judge")
FACILITATOR_ACTIONS = ("pause", "resume", "extend", "abort", "judge")
FACILITATOR_ONLY = ("judge",)  # of ACTIONS
FACILITATOR = "facilitator"
RESPONDER = "responder"
SYSTEM = "system"  # the services' admin token: Alertmanager delivering, Prometheus scraping
MAX_BODY = 64 * 1024
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Caller:
    """Who a bearer token belongs to: a role, and the person of a per-person token."""

    role: str  # FACILITATOR | RESPONDER | SYSTEM
    name: str | None = None


Handler = Callable[[str, dict, Caller], tuple[int, dict]]
Callers = Callable[[], dict[str, Caller]]  # token -> caller, read on every request
ConsoleRoutes = Callable[[Request, "str | None"], Reply]


def _refusal(status: int, message: str) -> dict:
    return {"ok": False, "message": message}


def resolve_caller(header: str, callers: dict[str, Caller]) -> Caller | None:
    """The caller an ``Authorization`` header names, or None. Every known token is compared
    in constant time, so the answer's timing does not tell which one nearly matched."""
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    raw = given.strip().encode()
    found = None
    for token, caller in callers.items():
        if token and hmac.compare_digest(raw, token.encode()):
            found = caller
    return found


class _Routes:
    def __init__(self, callers: Callers, handle_action: Handler, handle_facilitator: Handler,
                 handle_alerts: Callable[[dict], tuple[int, dict]], open_loopback: bool,
                 render_metrics: Callable[[], str],
                 console_routes: ConsoleRoutes | None) -> None:
        self.callers = callers
        self.handle_action = handle_action
        self.handle_facilitator = handle_facilitator
        self.handle_alerts = handle_alerts
        self.open_loopback = open_loopback  # /alerts and /metrics without a token
        self.render_metrics = render_metrics
        self.console_routes = console_routes

    def __call__(self, request: Request) -> Reply:
        path = request.path.rstrip("/") or "/"
        if path == "/console" or path.startswith("/console/"):
            if self.console_routes is None:
                return Reply(404, _refusal(404, "no console in this drill"))
            caller = self._caller(request)
            role = caller.role if caller and caller.role != SYSTEM else None
            return self.console_routes(request, role)
        if request.method in ("GET", "HEAD"):
            return self._get(request, path)
        if request.method == "POST":
            return self._post(request, path)
        return Reply(405, _refusal(405, f"method {short(request.method, 20)} not allowed; "
                                        "GET or POST"), headers=(("allow", "GET, POST"),))

    # -- who is asking ---------------------------------------------------------------------
    def _caller(self, request: Request) -> Caller | None:
        return resolve_caller(request.headers.get("authorization", ""), self.callers())

    def _allow(self, request: Request, roles: tuple[str, ...]) -> Caller | Reply:
        """The caller when its role is one of ``roles``; else 401 (no drill token) or 403
        (a drill token of another role)."""
        caller = self._caller(request)
        if caller is not None and caller.role in roles:
            return caller
        if caller is None or caller.role == SYSTEM or RESPONDER in roles:
            return Reply(401, _refusal(401, "missing or wrong bearer token (a drill token: "
                                            "the responder's or the facilitator's file)"),
                         headers=(("www-authenticate", "Bearer"),))
        return Reply(403, _refusal(403, "facilitator only: a responder's token cannot "
                                        "reach this"))

    def _open_or_any(self, request: Request) -> Reply | None:
        """/alerts and /metrics: open on loopback; elsewhere any of the drill's tokens."""
        if self.open_loopback:
            return None
        allowed = self._allow(request, (FACILITATOR, RESPONDER, SYSTEM))
        return allowed if isinstance(allowed, Reply) else None

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

    # -- routes ----------------------------------------------------------------------------
    def _get(self, request: Request, path: str) -> Reply:
        if path == "/healthz":
            return Reply(200, {"ok": True})
        if path == "/metrics":  # the drill's events for Prometheus (Grafana annotations)
            refused = self._open_or_any(request)
            return refused or Reply(200, self.render_metrics(), content_type=METRICS_TYPE)
        if path == "/incident":
            caller = self._allow(request, (FACILITATOR, RESPONDER))
            if isinstance(caller, Reply):
                return caller
            return Reply(*self.handle_action("status", {}, caller))
        if path == "/facilitator/state":
            caller = self._allow(request, (FACILITATOR,))
            if isinstance(caller, Reply):
                return caller
            return Reply(*self.handle_facilitator("state", {}, caller))
        return Reply(404, _refusal(404, f"no endpoint {short(path, 100)!r}"))

    def _post(self, request: Request, path: str) -> Reply:
        if path == "/alerts":
            # Alertmanager: no token on loopback; listening elsewhere (--webhook-listen), the
            # admin token (Alertmanager's http_config.authorization.credentials_file)
            refused = self._open_or_any(request)
            if refused:
                return refused
            body = self._body(request, refuse_bad_text=False)
            return body if isinstance(body, Reply) else Reply(*self.handle_alerts(body))
        if path.startswith("/facilitator/"):
            action = path.removeprefix("/facilitator/")
            if action not in FACILITATOR_ACTIONS:
                return Reply(404, _refusal(404, f"no endpoint {short(path, 100)!r}; "
                                                f"facilitator actions: "
                                                f"{', '.join(FACILITATOR_ACTIONS)}"))
            return self._act(request, action, (FACILITATOR,), self.handle_facilitator)
        action = path.removeprefix("/incident/")
        if not path.startswith("/incident/") or action not in ACTIONS:
            return Reply(404, _refusal(404, f"no endpoint {short(path, 100)!r}; actions: "
                                            f"{', '.join(ACTIONS)}"))
        if action in FACILITATOR_ONLY:
            return self._act(request, action, (FACILITATOR,), self.handle_facilitator)
        return self._act(request, action, (FACILITATOR, RESPONDER), self.handle_action)

    def _act(self, request: Request, action: str, roles: tuple[str, ...],
             handler: Handler) -> Reply:
        caller = self._allow(request, roles)
        if isinstance(caller, Reply):
            return caller
        body = self._body(request)
        return body if isinstance(body, Reply) else Reply(*handler(action, body, caller))


class IncidentServer:
    """The incident API on ``host:port``.

    ``callers`` maps each token to its ``Caller`` (read per request: the tokens appear when
    the run does). Without it, ``token`` is the one token, a facilitator's, and
    ``handle_action(action, body)`` takes no caller (a receiver of alerts, tests).
    ``handle_facilitator(action, body, caller)`` answers /facilitator/*; without it only
    judging is there, through ``handle_action``. ``console_routes(request, role)`` answers
    everything under /console (role None: no or a wrong token)."""

    def __init__(self, token: str | Callable[[], str] | None, handle_action: Callable,
                 handle_alerts: Callable[[dict], tuple[int, dict]],
                 host: str = "127.0.0.1", port: int = 0,
                 render_metrics: Callable[[], str] | None = None,
                 callers: Callers | None = None,
                 handle_facilitator: Handler | None = None,
                 console_routes: ConsoleRoutes | None = None) -> None:
        if callers is None:
            read_token = token if callable(token) else (lambda: token or "")
            callers = lambda: {read_token(): Caller(FACILITATOR)}  # noqa: E731
            single = handle_action
            handle_action = lambda a, b, c: single(a, b)  # noqa: E731
        handle_facilitator = handle_facilitator or _judge_only(handle_action)
        routes = _Routes(callers, handle_action, handle_facilitator, handle_alerts,
                         open_loopback=host in LOOPBACK,
                         render_metrics=render_metrics or (lambda: ""),
                         console_routes=console_routes)
        self.beyond_loopback = host not in LOOPBACK
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


def _judge_only(handle_action: Handler) -> Handler:
    def handle(action: str, body: dict, caller: Caller) -> tuple[int, dict]:
        if action == "judge":
            return handle_action(action, body, caller)
        return 404, _refusal(404, f"no facilitator action {action!r} here")
    return handle
