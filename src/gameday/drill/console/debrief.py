"""The debrief: after a drill, what the team did beside the recommended path.

Built from the run folder's report figures (``gameday.report.render.build_context`` over
score.json: phases with their expected limits, levers with their grades and costs, hints
and their cost, the points), with the answer key of the revealed drill.json, and linking
the postmortem draft and the full report. No figure is computed here.

``serve_debrief(run_path, host, port)`` serves the console alone on a finished run (what
``gameday drill run --console-linger`` does after writing the outputs): the same page,
opening on the debrief, for either of the run's drill tokens.
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path

import jinja2

from gameday.drill.console.markdown import render_markdown
from gameday.errors import GamedayError
from gameday.listener import HandlerApp, Limits, Listener, Reply, Request
from gameday.runfolder import Run, read_json

TEMPLATE = Path(__file__).with_name("debrief.html.j2")


def render_debrief(run_path: Path) -> str:
    """The debrief as an HTML fragment (everything escaped; the draft through the
    console's Markdown renderer, which escapes too)."""
    from gameday.report.render import build_context
    from gameday.report.run import load_run

    folder = Run(run_path)
    run = load_run(run_path)
    score = read_json(folder.score, []) or {}
    charts = sorted(folder.charts_dir.glob("*.png")) if folder.charts_dir.is_dir() else []
    context = build_context(run, score, charts)
    draft = folder.postmortem.read_text(errors="replace") if folder.postmortem.is_file() \
        else ""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    return env.from_string(TEMPLATE.read_text()).render(
        **context, key=run.drill.get("answer_key") or {},
        postmortem=render_markdown(draft) if draft else "",
        postmortem_path=str(folder.postmortem), report_path=str(folder.report_html))


def debrief_reply(run_path: Path) -> Reply:
    if not Run(run_path).score.is_file():
        return Reply(409, {"ok": False, "message": "the report is not written yet (score.json "
                                                   "missing); retry in a few seconds"})
    return Reply(200, {"ok": True, "html": render_debrief(run_path)})


def read_secret(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def run_tokens(run_path: Path) -> dict[str, str]:
    """token -> role for the run's drill tokens (the facilitator's, the responders')."""
    folder = Run(run_path)
    found: dict[str, str] = {}
    facilitator = getattr(folder, "facilitator_token_path", None)
    if facilitator is not None and (token := read_secret(facilitator)):
        found[token] = "facilitator"
    for path in sorted(folder.path.glob("responder*.token")):
        if token := read_secret(path):
            found.setdefault(token, "responder")
    if not found and (token := read_secret(folder.token_path)):
        found[token] = "responder"  # a run from before per-role tokens
    return found


def role_of(headers: dict, tokens: dict[str, str]) -> str | None:
    given = headers.get("authorization", "")
    if not given.startswith("Bearer "):
        return None
    for token, role in tokens.items():
        if hmac.compare_digest(given[7:].encode(), token.encode()):
            return role
    return None


class DebriefRoutes:
    """The console on a finished run: the page, its files, the debrief; nothing else."""

    def __init__(self, run_path: Path) -> None:
        from gameday.drill.console.routes import Console
        from gameday.drill.console.snapshot import MetricsFeed

        self.run_path = Path(run_path)
        self.tokens = run_tokens(self.run_path)
        self.console = Console(lambda: self.run_path, self._api, MetricsFeed(lambda: None),
                               lambda: True, debrief=debrief_reply)

    def _api(self, request: Request) -> Reply:
        role = role_of(request.headers, self.tokens)
        drill = read_json(Run(self.run_path).drill_file, []) or {}
        return Reply(200 if role else 401, {"ok": bool(role), "scenario": {
            "name": drill.get("scenario"), "title": drill.get("title"),
            "briefing": drill.get("briefing")}, "pages": [], "phase": "over"})

    def __call__(self, request: Request) -> Reply:
        if not request.path.startswith("/console"):
            return Reply(404, {"ok": False, "message": "only the console is served here"})
        return self.console(request, role_of(request.headers, self.tokens))


def serve_debrief(run_path: Path, host: str = "127.0.0.1", port: int = 0,
                  wait_s: float = 5.0) -> Listener:
    """The console of a finished run on ``host:port``, started; ``stop()`` it. A port still
    in use is retried for ``wait_s`` (the drill's own listener letting it go)."""
    app = HandlerApp(DebriefRoutes(run_path), name="console-debrief")
    attempts = max(1, int(wait_s / 0.25))
    for attempt in range(attempts):
        try:
            return Listener(app, host=host, port=port, limits=Limits(),
                            name="console-debrief").start()
        except OSError as err:
            if attempt == attempts - 1:
                app.close()
                raise GamedayError(f"console debrief: cannot listen on {host}:{port}: "
                                   f"{err.strerror or err}") from None
            time.sleep(0.25)
    raise AssertionError("unreachable")
