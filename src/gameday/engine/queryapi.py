"""The embedded engine behind a Prometheus-compatible HTTP API, on loopback.

With it, everything that reads metrics (``gameday slo status``, the Chaos Toolkit probes,
drills, Grafana if pointed at it) talks to one kind of endpoint whether the numbers come
from the embedded engine or from a real Prometheus: the part of the API gameday uses.

    GET|POST /api/v1/query        query, time            -> vector | scalar
    GET|POST /api/v1/query_range  query, start, end, step -> matrix
    GET      /api/v1/alerts                              -> pending and firing alerts
    GET      /api/v1/rules                               -> groups, rules, health
    GET      /-/ready, /-/healthy
    GET      /metrics      the engine's own: rule-group iterations scheduled, missed, late

Errors answer as Prometheus does: HTTP 400 ``{"status": "error", "errorType": "bad_data"}``;
a body over ``MAX_BODY`` 413, a bug 500 ``internal``, both in the same shape.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs

from gameday.errors import GamedayError
from gameday.listener import HandlerApp, Limits, Listener, Reply, Request, short

log = logging.getLogger("gameday.listener.query")  # quiet unless logging is set up
MAX_RANGE_POINTS = 11_000  # Prometheus's own limit on points per range query
# A POST form holding the longest query the parser accepts (promql_parse.MAX_QUERY_CHARS,
# 16,384 characters) fits even if every character is percent-encoded UTF-8 (12 bytes each).
MAX_BODY = 256 * 1024


def _fmt_value(v: float) -> str:
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _rfc3339(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _float_param(params: dict, name: str, default: float | None = None) -> float:
    raw = params.get(name)
    if raw is None:
        if default is None:
            raise GamedayError(f"missing parameter {name!r}")
        return default
    try:
        value = float(raw)
    except ValueError:
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise GamedayError(f"parameter {name!r}: cannot parse {raw!r} as a time or "
                               f"number") from None
    if math.isnan(value) or math.isinf(value):
        raise GamedayError(f"parameter {name!r}: {raw!r} is not finite")
    return value


class QueryAPI:
    """Answers the API from an engine (``query(expr, at)`` and ``alerts()``)."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def now(self) -> float:
        last = getattr(self.engine, "last_tick", None)
        return last if last is not None else time.time()

    def query(self, params: dict) -> dict:
        expr = params.get("query")
        if not expr:
            raise GamedayError("missing parameter 'query'")
        at = _float_param(params, "time", self.now())
        raw = getattr(self.engine, "raw_samples", None)
        matrix = raw(expr, at) if raw is not None else None
        if matrix is not None:  # a bare range selector: the stored points, as Prometheus
            return {"resultType": "matrix", "result": [
                {"metric": labels, "values": [[t, _fmt_value(v)] for t, v in points]}
                for labels, points in matrix]}
        result = self.engine.evaluate(expr, at)
        if isinstance(result, float):
            return {"resultType": "scalar", "result": [at, _fmt_value(result)]}
        return {"resultType": "vector",
                "result": [{"metric": labels, "value": [at, _fmt_value(v)]}
                           for labels, v in result]}

    def query_range(self, params: dict) -> dict:
        expr = params.get("query")
        if not expr:
            raise GamedayError("missing parameter 'query'")
        start, end = _float_param(params, "start"), _float_param(params, "end")
        step = _float_param(params, "step")
        if step <= 0:
            raise GamedayError("zero or negative query resolution step widths are not "
                               "accepted. Try a positive integer")
        if end < start:
            raise GamedayError("end timestamp must not be before start time")
        if (end - start) / step > MAX_RANGE_POINTS:
            raise GamedayError("exceeded maximum resolution of 11,000 points per timeseries. "
                               "Try decreasing the query resolution (?step=XX)")
        series: dict[frozenset, tuple[dict, list]] = {}
        t = start
        while t <= end + 1e-9:
            for labels, v in self.engine.query(expr, t):
                key = frozenset((labels or {}).items())
                series.setdefault(key, (labels or {}, []))[1].append([t, _fmt_value(v)])
            t += step
        return {"resultType": "matrix",
                "result": [{"metric": labels, "values": values}
                           for labels, values in series.values()]}

    def alerts(self) -> dict:
        out = []
        for a in self.engine.alerts():
            if a["state"] not in ("pending", "firing"):
                continue
            out.append({"labels": a["labels"], "annotations": a.get("annotations", {}),
                        "state": a["state"], "activeAt": _rfc3339(a.get("active_at")),
                        "value": _fmt_value(a.get("value", float("nan")))})
        return {"alerts": out}

    def rules(self) -> dict:
        groups = []
        for g in getattr(self.engine, "groups", []):
            rules = []
            for r in g.rules:
                error = g.errors.get(r.name)
                item = {"name": r.name, "query": r.expr, "health": "err" if error else "ok",
                        "type": "alerting" if r.kind == "alert" else "recording",
                        "labels": dict(r.labels)}
                if error:
                    item["lastError"] = error
                rules.append(item)
            groups.append({"name": g.name, "file": g.source, "interval": g.interval,
                           "rules": rules})
        return {"groups": groups}


ERROR_TYPES = {400: "bad_data", 404: "not_found", 405: "bad_data", 408: "timeout",
               413: "bad_data", 500: "internal", 503: "unavailable"}


def _error(status: int, message: str) -> dict:
    """Prometheus's error answer, for refusals made by the listener too."""
    return {"status": "error", "errorType": ERROR_TYPES.get(status, "bad_data"),
            "error": message}


def _params(request: Request) -> dict:
    raw = parse_qs(request.query)
    if request.method == "POST" and request.body:
        try:
            form = request.body.decode()
        except UnicodeDecodeError:
            raise GamedayError("the POST body is not UTF-8 form data") from None
        for k, v in parse_qs(form).items():
            raw.setdefault(k, []).extend(v)
    return {k: v[-1] for k, v in raw.items()}


class _Routes:
    def __init__(self, api: QueryAPI) -> None:
        self.api = api

    def __call__(self, request: Request) -> Reply:
        path = request.path.rstrip("/")
        if request.method not in ("GET", "POST", "HEAD"):
            return Reply(405, _error(405, f"method {short(request.method, 20)} not allowed"),
                         headers=(("allow", "GET, POST"),))
        if path in ("/-/ready", "/-/healthy"):
            return Reply(200, "gameday embedded engine is ready.\n")
        schedule = getattr(self.api.engine, "schedule", None)
        if path == "/metrics" and schedule is not None:
            return Reply(200, schedule.render_metrics())
        handlers = {"/api/v1/query": self.api.query, "/api/v1/query_range": self.api.query_range,
                    "/api/v1/alerts": lambda _p: self.api.alerts(),
                    "/api/v1/rules": lambda _p: self.api.rules()}
        handler = handlers.get(path)
        if handler is None:
            return Reply(404, _error(404, f"no endpoint {short(path, 100)!r} in the embedded "
                                          f"engine's API"))
        try:
            data = handler(_params(request))
        except GamedayError as err:
            return Reply(400, _error(400, short(str(err), 1000)))
        except Exception as err:  # noqa: BLE001 - a bug answers 500, the server stays up
            log.warning("query API: %s failed: %r", path, err, exc_info=True)
            return Reply(500, _error(500, short(f"{type(err).__name__}: {err}")))
        return Reply(200, {"status": "success", "data": data})


class QueryServer:
    """Serve ``engine`` on ``host:port`` (port 0: any free port) from a daemon thread, on a
    ``gameday.listener.Listener``: POST bodies over ``MAX_BODY`` answer 413 unread, slow or
    idle clients are cut off, every error is Prometheus's ``{"status": "error", ...}``."""

    def __init__(self, engine, host: str = "127.0.0.1", port: int = 0) -> None:
        app = HandlerApp(_Routes(QueryAPI(engine)), name="query-api")
        self.listener = Listener(app, host=host, port=port, limits=Limits(max_body=MAX_BODY),
                                 error_body=_error, name="query-api")

    @property
    def url(self) -> str:
        return self.listener.url

    def start(self) -> QueryServer:
        self.listener.start()
        return self

    def stop(self) -> None:
        self.listener.stop()
