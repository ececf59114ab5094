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

Errors answer as Prometheus does: HTTP 400 ``{"status": "error", "errorType": "bad_data"}``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from gameday.errors import GamedayError

MAX_RANGE_POINTS = 11_000  # Prometheus's own limit on points per range query


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


class _Handler(BaseHTTPRequestHandler):
    api: QueryAPI  # set on the subclass the server makes

    def log_message(self, format: str, *args) -> None:  # quiet: the supervisor log is JSON
        pass

    def _params(self) -> dict:
        url = urlsplit(self.path)
        raw = parse_qs(url.query)
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            for k, v in parse_qs(body).items():
                raw.setdefault(k, []).extend(v)
        return {k: v[-1] for k, v in raw.items()}

    def _send(self, status: int, body: dict | str) -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if isinstance(body, dict)
                         else "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path in ("/-/ready", "/-/healthy"):
            self._send(200, "gameday embedded engine is ready.\n")
            return
        schedule = getattr(self.api.engine, "schedule", None)
        if path == "/metrics" and schedule is not None:
            self._send(200, schedule.render_metrics())
            return
        handlers = {"/api/v1/query": self.api.query, "/api/v1/query_range": self.api.query_range,
                    "/api/v1/alerts": lambda _p: self.api.alerts(),
                    "/api/v1/rules": lambda _p: self.api.rules()}
        handler = handlers.get(path)
        if handler is None:
            self._send(404, {"status": "error", "errorType": "not_found",
                             "error": f"no endpoint {path!r} in the embedded engine's API"})
            return
        try:
            data = handler(self._params())
        except GamedayError as err:
            self._send(400, {"status": "error", "errorType": "bad_data", "error": str(err)})
            return
        except Exception as err:  # a bug must not kill the server thread
            self._send(500, {"status": "error", "errorType": "internal",
                             "error": f"{type(err).__name__}: {err}"})
            return
        self._send(200, {"status": "success", "data": data})

    do_GET = _route
    do_POST = _route


class QueryServer:
    """Serve ``engine`` on ``host:port`` (port 0: any free port) in a daemon thread."""

    def __init__(self, engine, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"api": QueryAPI(engine)})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="query-api",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> QueryServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
