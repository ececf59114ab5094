"""What the terminal shows during a drill: SLO burn, firing alerts, requests, errors and
latency per service, and the timeline. On a terminal it is one live panel; otherwise (CI,
a pipe) each timeline event is printed as a line.
"""

from __future__ import annotations

import json
import time
from collections import deque

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gameday.runfolder import Run
from gameday.stack.monitor import evaluation_warning

SERVICE_QUERIES = {
    "req/s": "sum by (service) (rate(http_requests_total[10s]))",
    "5xx": 'sum by (service) (rate(http_requests_total{code=~"5.."}[10s])) '
           "/ sum by (service) (rate(http_requests_total[10s]))",
    "p95 ms": "1000 * histogram_quantile(0.95, sum by (service, le) "
              "(rate(http_request_duration_seconds_bucket[10s])))",
}
STATE_STYLE = {"page": "bold red", "ticket": "yellow", "ok": "green"}


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def describe(event: dict) -> str:
    kind = event.get("kind", "?")
    who = event.get("who")
    text = event.get("text") or ""
    if kind in ("page", "ticket"):
        burn = event.get("burn_rate")
        text = (f"{event.get('alert')} ({event.get('slo_id')})"
                + (f" burn {burn:g}x" if isinstance(burn, int | float) else "")
                + (f" runbook {event['runbook_url']}" if event.get("runbook_url") else ""))
    elif kind in ("fault_start", "fault_end") and not text:
        text = f"{event.get('service', '')} {json.dumps(event.get('fault', {}))[:80]}"
    return f"{_clock(event['ts'])} {kind:<15} {(who or ''):<15} {text}".rstrip()


class DrillView:
    def __init__(self, console: Console | None = None, interactive_help: bool = False) -> None:
        self.console = console or Console()
        self.live_mode = self.console.is_terminal
        self.events: deque[dict] = deque(maxlen=10)
        self.current_phase = "starting"
        self.started = time.time()
        self.header = ""
        self.interactive_help = interactive_help
        self.remote: str | None = None  # how a teammate elsewhere responds (--url ...)
        self.warnings: deque[str] = deque(maxlen=2)
        self._services: dict = {}
        self._slos: list = []
        self._alerts: list = []
        self._rules: str | None = None  # the monitor's rules folder (slo-status.json)
        self._models: list | None = None
        self._uses: dict = {}
        self._last_query = 0.0
        self._live: Live | None = None

    def __enter__(self) -> DrillView:
        if self.live_mode:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.update(self.render(), refresh=True)
            self._live.__exit__(*exc)
            self._live = None

    # -- called by the controller ---------------------------------------------------------
    def event(self, event: dict) -> None:
        self.events.append(event)
        if not self.live_mode:
            self.console.print(describe(event), highlight=False, markup=False,
                               soft_wrap=True)

    def phase(self, phase: str) -> None:
        if phase != self.current_phase and not self.live_mode:
            self.console.print(f"-- {phase}", highlight=False, markup=False)
        self.current_phase = phase

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def refresh(self, drill) -> None:
        if self.interactive_help and self.remote is None and drill.server is not None \
                and drill.run_path is not None:
            run = Run(drill.run_path)
            self.remote = (f"remote responders: gameday incident ... --url {drill.server.url} "
                           f"--token-file {run.responder_token_path} (or a mode-600 copy); "
                           f"facilitator: --token-file {run.facilitator_token_path}"
                           + ("; listening beyond loopback: every endpoint needs a token"
                              if drill.server.beyond_loopback else "")
                           + f"\nconsole: {drill.server.url}/console (sign in with the "
                             "contents of a token file)")
            if not self.live_mode:
                self.console.print(self.remote, highlight=False, markup=False,
                                   soft_wrap=True)
        if self._live is None:
            return
        now = time.monotonic()
        if now - self._last_query >= 2.0:
            self._last_query = now
            self._collect(drill)
        self.header = drill._start_text()
        self._live.update(self.render(), refresh=True)

    def _collect(self, drill) -> None:
        try:
            body = json.loads(Run(drill.run_path).slo_status.read_text())
            self._slos = body.get("slos", [])
            self._rules = body.get("rules") or self._rules
            behind = evaluation_warning(body.get("evaluation"))
            if behind and behind not in self.warnings:
                self.warn(behind)
        except (OSError, ValueError):
            pass
        self._uses = self._budget_since_start(drill) or self._uses
        self._alerts = drill.book.firing() if drill.book else []
        services: dict = {}
        for column, expr in SERVICE_QUERIES.items():
            try:
                for s in drill.api.query(expr):
                    services.setdefault(s.labels.get("service", "?"), {})[column] = s.value
            except Exception:
                continue
        self._services = services

    def _budget_since_start(self, drill) -> dict:
        """Budget consumed per SLO since the drill started, counted by the engine the drill
        reads (gameday.slo.consumption: the arithmetic of score.json and the report)."""
        from pathlib import Path

        from gameday.slo.consumption import load_slos_for_rules, measure

        started = (getattr(drill, "times", None) or {}).get("started")
        if not started or drill.api is None or not self._rules:
            return {}
        if self._models is None:
            self._models = load_slos_for_rules(sorted(Path(self._rules).glob("*.rules.yml")))
        periods = {s.get("slo_id"): 86400 * s["period_days"] for s in self._slos
                   if isinstance(s.get("period_days"), int | float)}
        try:
            return measure(_ApiEngine(drill.api), [m for m in self._models if m.id in periods],
                           started, time.time(), periods)
        except Exception:  # the panel must never stop a drill
            return {}

    # -- drawing ------------------------------------------------------------------------------
    def render(self):
        elapsed = time.time() - self.started
        head = Text(f"{self.header}   phase: {self.current_phase}   {elapsed:5.0f} s",
                    style="bold")
        slo = Table(title="SLOs", expand=True)
        for col in ("slo", "state", "SLI", "burn", "budget used (drill)"):
            slo.add_column(col)
        for s in self._slos:
            burns = s.get("burn_by_window") or {}
            first = next(iter(burns.items()), (None, None))
            slo.add_row(s.get("slo_id", "?"),
                        Text(s.get("state", "?"), style=STATE_STYLE.get(s.get("state"), "")),
                        _pct(s.get("sli")), f"{first[1]:.1f}x ({first[0]})"
                        if isinstance(first[1], int | float) else "-",
                        _consumed(self._uses.get(s.get("slo_id"))))
        svc = Table(title="services", expand=True)
        for col in ("service", "req/s", "5xx", "p95 ms"):
            svc.add_column(col)
        for name, vals in sorted(self._services.items()):
            svc.add_row(name, _num(vals.get("req/s")), _pct(vals.get("5xx")),
                        _num(vals.get("p95 ms")))
        alerts = Text("firing: " + (", ".join(f"{a.alert} [{a.severity}]"
                                               for a in self._alerts) or "none"),
                      style="red" if self._alerts else "green")
        timeline = Text("\n".join(describe(e) for e in self.events) or "(no events yet)")
        parts = [head, alerts, slo, svc, Panel(timeline, title="timeline")]
        if self.interactive_help:
            parts.append(Text("respond from another terminal: gameday incident status | ack "
                              "| note | mitigate LEVER | hint | diagnose | resolve",
                              style="dim"))
            if self.remote:
                parts.append(Text(self.remote, style="dim"))
        parts += [Text(w, style="dim yellow") for w in self.warnings]
        return Group(*parts)


def _pct(v) -> str:
    return f"{100 * v:.2f}%" if isinstance(v, int | float) and v == v else "-"


def _num(v) -> str:
    return f"{v:.1f}" if isinstance(v, int | float) and v == v else "-"


def _consumed(use) -> str:
    from gameday.slo.consumption import format_consumed

    return "-" if use is None else format_consumed(use.consumed)


class _ApiEngine:
    """``query(expr, at)`` over a Prometheus-compatible API client (either engine's)."""

    def __init__(self, api) -> None:
        self.api = api

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict, float]]:
        return [(s.labels, s.value) for s in self.api.query(expr, at)]
