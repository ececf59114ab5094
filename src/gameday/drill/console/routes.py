"""The game-day web console's routes: everything under ``/console`` of the incident API.

    GET /console                   the page (no token needed: it asks for one)
    GET /console/debrief           the same page, opening on the debrief
    GET /console/static/<file>     its script, style and vendored uPlot: a fixed list of files
    GET /console/stream            server-sent events: state, timeline, metrics, end
    GET /console/api/levers        the levers with their arguments, for the page's forms
    GET /console/api/runbook?url=  a runbook the role's view links, rendered to HTML
    GET /console/api/debrief       after the drill: the debrief (console/debrief.py)
    GET /console/api/history       the drills of this runs folder with their scores and
                                   times (gameday.report.history), for the trend; the
                                   running drill is left out until it is over

The drill API (gameday.drill.api) resolves the bearer token to a role and hands every
``/console`` request here with it; data needs a role, the page and its static files do not.
What the page shows is what the API answers that role: the state is ``GET /incident``, plus
``GET /facilitator/state`` for the facilitator, asked of the API with the caller's own token.
"""

from __future__ import annotations

import inspect
import json
import queue
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs

from gameday.drill.console.markdown import render_markdown
from gameday.drill.console.snapshot import MetricsFeed
from gameday.listener import Reply, Request, short
from gameday.stream import Stream

STATIC = {  # name -> content type: the only files served
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "uPlot.LICENSE": "text/plain; charset=utf-8",
}
PAGE_HEADERS = (("content-security-policy", "default-src 'self'; img-src 'self' data:; "
                                            "style-src 'self' 'unsafe-inline'"),
                ("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"),
                ("cache-control", "no-store"))
HISTORY_FIELDS = ("run_id", "status", "scenario", "mode", "date", "verdict", "score_percent",
                  "ttd_s", "ttm_s", "ttr_s", "responders")
BACKLOG_EVENTS = 500  # timeline events a new stream starts with, at most
BACKLOG_METRICS = 300  # snapshots a new stream starts with, at most
STATE_EVERY = 2  # ticks between two looks at the state
FIRST_STATE_S = 3.0  # a new stream waits this long at most for its first state


def static_file(name: str) -> bytes:
    folder = resources.files("gameday.drill.console") / "static"
    path = folder / ("vendor/" + name if name.startswith("uPlot") else name)
    return path.read_bytes()


def _refusal(status: int, message: str) -> Reply:
    return Reply(status, {"ok": False, "message": message})


def lever_specs() -> list[dict]:
    """Each lever: name, help, and its arguments (name, required, default, type)."""
    from gameday.drill.levers import levers

    out = []
    for name, func in levers().items():
        args = []
        for p in inspect.signature(func).parameters.values():
            if p.name in ("run", "configuration", "secrets") or p.kind in (p.VAR_KEYWORD,
                                                                           p.VAR_POSITIONAL):
                continue
            default = None if p.default is inspect.Parameter.empty else p.default
            kind = p.annotation if isinstance(p.annotation, str) else getattr(
                p.annotation, "__name__", "")
            args.append({"name": p.name, "required": p.default is inspect.Parameter.empty,
                         "default": default if isinstance(default, str | int | float | bool)
                         else None, "type": str(kind or "str").replace("None", "").strip(" |")})
        doc = (inspect.getdoc(func) or "").splitlines()
        out.append({"lever": name, "help": doc[0] if doc else "", "arguments": args})
    return out


class Background:
    """One daemon thread that asks the API for states, so that a stream never waits on
    the incident (a lever being pulled holds it for seconds): a stream submits and picks
    the answer up on a later tick."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], str]) -> dict:
        """``{"done": Event, "value": ...}`` once ``fn()`` has run."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="console-state",
                                                daemon=True)
                self._thread.start()
        box = {"done": threading.Event(), "value": None}
        self._jobs.put((fn, box))
        return box

    def _work(self) -> None:
        while True:
            fn, box = self._jobs.get()
            try:
                box["value"] = fn()
            except Exception:  # noqa: BLE001 - the stream asks again on a later tick
                box["value"] = None
            box["done"].set()


def sse(event: str, data) -> bytes:
    """One server-sent event; JSON data on one line (a newline in it would end the event)."""
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


class Console:
    """``console(request, role) -> Reply`` for a drill (``drill``: the controller's Drill).

    ``api``: the drill API's own request handler, through which the state is asked with the
    caller's token; ``finished()``: whether the drill is over."""

    def __init__(self, run_path: Callable[[], Path | None], api: Callable[[Request], Reply],
                 feed: MetricsFeed, finished: Callable[[], bool], debrief=None) -> None:
        self.run_path = run_path
        self.api = api
        self.feed = feed
        self.finished = finished
        self.debrief = debrief  # callable(run_path) -> html fragment, or None
        self._timeline = None
        self._lock = threading.Lock()
        self.background = Background()

    def __call__(self, request: Request, role: str | None) -> Reply:
        path = request.path.rstrip("/")
        if request.method not in ("GET", "HEAD"):
            return _refusal(405, "the console's own routes are GET only; actions go to "
                                 "/incident/<action>")
        if path in ("/console", "/console/debrief"):  # one page; it opens on the debrief
            return Reply(200, static_file("index.html").decode(),
                         content_type="text/html; charset=utf-8", headers=PAGE_HEADERS)
        if request.path.startswith("/console/static/") or path == "/console/static":
            name = request.path.removeprefix("/console/static")[1:]
            if name not in STATIC:
                return _refusal(404, f"no console file {short(name, 60)!r}")
            return Reply(200, static_file(name).decode(), content_type=STATIC[name],
                         headers=(("cache-control", "no-cache"),
                                  ("x-content-type-options", "nosniff")))
        if role is None:
            return _refusal(401, "missing or wrong bearer token (a token file of the run: "
                                 "responder or facilitator)")
        if path == "/console/stream":
            return Reply(200, Stream(ConsoleStream(self, request.headers, role).produce,
                                     interval_s=1.0, max_s=6 * 3600))
        if path == "/console/api/levers":
            return Reply(200, {"ok": True, "levers": lever_specs()})
        if path == "/console/api/runbook":
            return self._runbook(request)
        if path == "/console/api/debrief":
            return self._debrief()
        if path == "/console/api/history":
            return self._history()
        return _refusal(404, f"no console endpoint {short(path, 100)!r}")

    # -- what the role may see -------------------------------------------------------------
    def state(self, headers: dict, role: str) -> dict:
        """The role's view: /incident's answer, and /facilitator/state's for the
        facilitator, asked of the API with the caller's own token."""
        auth = {"authorization": headers.get("authorization", "")}
        reply = self.api(Request("GET", "/incident", "", auth))
        state = dict(reply.body) if isinstance(reply.body, dict) else {}
        state["role"] = role
        state["finished"] = self.finished()
        if role == "facilitator":
            extra = self.api(Request("GET", "/facilitator/state", "", auth))
            if extra.status == 200 and isinstance(extra.body, dict):
                state["facilitator"] = extra.body
        return state

    def timeline(self, position: int) -> tuple[list[dict], int]:
        """Timeline events after ``position``, and the new position."""
        from gameday.timeline import TimelineReader, event_dict

        run_path = self.run_path()
        if run_path is None:
            return [], position
        with self._lock:
            if self._timeline is None:
                self._timeline = TimelineReader(run_path)
            self._timeline.new_events()
            events = self._timeline.events
            return [event_dict(e) for e in events[position:]], len(events)

    def _runbook(self, request: Request) -> Reply:
        from gameday.resources import find_file

        url = (parse_qs(request.query).get("url") or [""])[0]
        state = self.state(request.headers, "responder")
        linked = {p.get("runbook_url") for p in state.get("pages") or []}
        linked.add((state.get("scenario") or {}).get("runbook"))
        if not url or url not in linked:
            return _refusal(404, f"no runbook {short(url, 100)!r} linked from this incident")
        found = find_file(url)
        if found is None:
            return _refusal(404, f"runbook {short(url, 100)!r} not found")
        return Reply(200, {"ok": True, "name": Path(url).stem,
                           "html": render_markdown(found.read_text(errors="replace"))})

    def _history(self) -> Reply:
        """Rows of ``gameday history`` for this runs folder, read by the same function. The
        drill still running is left out (in a wheel its folder is not the responders' to
        read yet); each row carries only what the history table and trend show."""
        from gameday.report.history import history_rows

        run_path = self.run_path()
        if run_path is None:
            return Reply(200, {"ok": True, "rows": []})
        running = None if self.finished() else Path(run_path).name
        rows = [{k: row[k] for k in HISTORY_FIELDS}
                for row in history_rows(Path(run_path).parent) if row["run_id"] != running]
        return Reply(200, {"ok": True, "rows": rows})

    def _debrief(self) -> Reply:
        run_path = self.run_path()
        if not self.finished() or run_path is None or self.debrief is None:
            return _refusal(409, "the debrief opens once the drill is over and its report "
                                 "written")
        return self.debrief(run_path)


class ConsoleStream:
    """One client's stream: what it has been sent so far, and what to send next."""

    def __init__(self, console: Console, headers: dict, role: str) -> None:
        self.console = console
        self.headers = headers
        self.role = role
        self.ticks = 0
        self.events_at = 0
        self.metrics_at = 0
        self.last_state = ""
        self.pending: dict | None = None  # a state asked of the API, not yet sent
        self.ended = False

    def produce(self) -> bytes | None:
        if self.ended:
            return None
        out = []
        if self.ticks == 0:
            out.append(b"retry: 2000\n\n")
            _, total = self.console.timeline(0)
            self.events_at = max(0, total - BACKLOG_EVENTS)
            self.metrics_at = max(0, self.console.feed.taken - BACKLOG_METRICS)
        finished = self.console.finished()
        if self.pending is None and (self.ticks % STATE_EVERY == 0 or finished):
            self.pending = self.console.background.submit(lambda: json.dumps(
                self.console.state(self.headers, self.role), default=str))
            if self.ticks == 0:
                self.pending["done"].wait(FIRST_STATE_S)
        if self.pending is not None and self.pending["done"].is_set():
            state, self.pending = self.pending["value"], None
            if state and state != self.last_state:
                self.last_state = state
                out.append(f"event: state\ndata: {state}\n\n".encode())
        events, self.events_at = self.console.timeline(self.events_at)
        if events:
            out.append(sse("timeline", events))
        snaps, self.metrics_at = self.console.feed.since(self.metrics_at)
        for snap in snaps:
            out.append(sse("metrics", snap))
        if finished:
            out.append(sse("end", {"debrief": "/console/debrief"}))
            self.ended = True
        self.ticks += 1
        return b"".join(out)
