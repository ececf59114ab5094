"""``gameday drill run``: one whole game-day drill on the local stack.

Phases: start (or attach to) the stack -> start load -> wait for the steady state -> run
the scenario's experiment in its own process -> alerts page the responder -> the responder
(automatic or a person with ``gameday incident``) acts -> recovery -> teardown -> outputs.
Everything that happens goes to ``<run>/timeline.jsonl``; Ctrl-C stops every child and
still writes the outputs of the partial drill.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gameday.drill.alerts import AlertBook, burn_rate_reader, poll_alerts
from gameday.drill.api import Caller, IncidentServer
from gameday.drill.console import console_for
from gameday.drill.credentials import DrillCredentials, issue_credentials
from gameday.drill.eventmetrics import EventCounts
from gameday.drill.experiment import ExperimentProcess
from gameday.drill.facilitator import HEADROOM_S, Facilitation
from gameday.drill.incident import Incident
from gameday.drill.scenario import Scenario
from gameday.drill.stacks import open_stack
from gameday.drill.steady import QuietClock, all_ok, check_steady
from gameday.drill.teardown import teardown
from gameday.errors import StackError, ValidationError
from gameday.runfolder import Run, atomic_write, read_json
from gameday.slo.names import DRILL_CATALOG
from gameday.timeline import TimelineReader, append_event

# Faults of an auto drill outlive its expected detection and recovery, so that recovery is
# the mitigation's doing; they still end by themselves should everything else fail.
AUTO_FAULT_TTL_S = 180


@dataclass
class DrillOptions:
    mode: str = "interactive"  # auto | interactive
    hidden: bool = False  # wheel of misfortune: the learner does not see the scenario
    users: int = 6
    ack_delay_s: float = 3.0
    warmup_s: float = 5.0
    steady_timeout_s: float = 90.0
    settle_s: float = 15.0  # every alert quiet this long before the fault
    detect_timeout_s: float = 90.0
    recover_timeout_s: float = 120.0
    max_duration_s: float = 900.0
    experiment_grace_s: float = 5.0
    prometheus: bool = False
    attach: str | None = None  # run id/folder of a running stack, instead of starting one
    stack_file: str | None = None  # a stack gameday did not start (stack/external.py)
    prometheus_url: str | None = None  # a Prometheus gameday did not start: queries, alerts
    webhook_listen: tuple[str, int] | None = None  # where the incident API and webhook bind
    roles: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    responders: tuple[str, ...] = ()  # one responder token each (drill/credentials.py)


class Drill:
    def __init__(self, scenario: Scenario, options: DrillOptions, home: Path | None = None,
                 view=None) -> None:
        self.scenario = scenario
        self.opt = options
        self.home = home
        self.view = view  # gameday.drill.live.DrillView, or None
        self.stack = None  # gameday.drill.stacks.DrillStack
        self.event_counts = EventCounts()
        self.run_path: Path | None = None
        self.load = None
        self.experiment: ExperimentProcess | None = None
        self.server: IncidentServer | None = None
        self.incident: Incident | None = None
        self.book: AlertBook | None = None
        self.api = None
        self.stop_event = threading.Event()
        self.interrupted = False
        self.phase = "starting"
        self.times: dict[str, float | None] = {"started": time.time()}
        self.outcome: dict = {}
        self._timeline: TimelineReader | None = None  # what other processes append
        self.credentials: DrillCredentials | None = None  # the tokens, once the run exists
        self.facilitation = Facilitation(self)  # pause, extend, abort, the answer key
        self.console = console_for(self)  # the web console under /console (drill/console/)

    # -- events ---------------------------------------------------------------------------
    def emit(self, kind: str, **fields) -> dict:
        fields = {k: v for k, v in fields.items() if v is not None}
        event = append_event(self.run_path, kind, **fields)
        self.event_counts.count(event)
        if kind in ("page", "ticket") and self.incident is not None:
            self.incident.paged(fields)
        if self.view is not None:
            self.view.event(event)
        return event

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        if self.view is not None:
            self.view.phase(phase)

    # -- the whole drill ----------------------------------------------------------------------
    def run(self) -> dict:
        old = signal.getsignal(signal.SIGINT)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._on_sigint)
            signal.signal(signal.SIGTERM, self._on_sigint)
        try:
            self._start_stack()
            self.write_drill_file()
            self.emit("run_start", who="drill", scenario=self.scenario.public(
                self.opt.hidden)["name"], mode=self.opt.mode, text=self._start_text())
            for role, who in self.opt.roles.items():
                self.incident.act("role", {"role": role, "who": who}, role="facilitator")
            self._start_load()
            if self._wait_steady():
                self._run_incident()
        except StackError as err:
            self.outcome["error"] = str(err)
            if self.run_path is not None:
                self.emit("drill_error", who="drill", text=str(err))
        finally:
            self._teardown()
            self.console.feed.stop()
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, old)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return self.outcome

    def _on_sigint(self, signum, frame) -> None:
        if self.interrupted:  # a second Ctrl-C: leave at once, teardown still runs
            raise KeyboardInterrupt
        self.interrupted = True
        self.stop_event.set()

    def _start_text(self) -> str:
        pub = self.scenario.public(self.opt.hidden)
        return f"{pub['title']} ({self.opt.mode} drill)"

    # -- setup ----------------------------------------------------------------------------
    def _start_stack(self) -> None:
        from gameday.prometheus.api import PrometheusAPI

        self.set_phase("stack")
        # The incident API first: Alertmanager (--prometheus) is told its webhook URL.
        host, port = self.opt.webhook_listen or ("127.0.0.1", 0)
        self.server = IncidentServer(None, self._act, self._on_webhook, host=host, port=port,
                                     render_metrics=self.event_counts.render,
                                     # token -> caller: nobody before the run's tokens
                                     callers=lambda: getattr(self.credentials, "callers", {}),
                                     handle_facilitator=self.facilitation.handle,
                                     console_routes=self.console).start()
        self.stack = open_stack(self.opt, self.scenario, f"{self.server.url}/alerts",
                                self.home)
        self.run_path, state = self.stack.run_path, self.stack.state
        self.credentials = issue_credentials(Run(self.run_path), self.opt.responders)
        self.state = state
        self.times["stack_ready"] = time.time()
        self.incident = Incident(str(self.run_path), self.scenario, self.emit,
                                 hidden=self.opt.hidden)
        deadline = time.monotonic() + 15
        while self._query_url() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # the monitor starts right after the stack is ready
        url = self._query_url()
        if url is None:
            raise StackError("the stack has no query API (is the monitor off?)")
        self.api = PrometheusAPI(url)
        self.book = AlertBook(self.emit, burn_rate_reader(self.api, self._catalog()))

    def _act(self, action: str, body: dict, caller: Caller) -> tuple[int, dict]:
        if self.incident is None:
            return 503, {"ok": False, "message": "the drill is still starting"}
        return self.facilitation.refusal(action) or self.incident.act(
            action, body, role=caller.role, person=caller.name)

    def _query_url(self) -> str | None:
        from gameday.stack.state import read_state

        return self.opt.prometheus_url or read_state(Run(self.run_path).state_path).query_url

    def _catalog(self) -> str:
        """The window catalog the stack's monitor runs (``--set stack.catalog=...``), so
        that the score replays the rules that paged, not the default ones."""
        external = getattr(self.stack, "external", None)
        if external is not None:
            return external.stack.catalog
        try:
            spec = read_json(Run(self.run_path).spec_path, notes=[]) or {}
        except ValidationError:
            spec = {}
        return str((spec.get("settings") or {}).get("catalog") or DRILL_CATALOG)

    def write_drill_file(self, reveal: bool = False, **extra) -> None:
        """``<run>/drill.json`` (docs/drill-outputs.md); the answer key only with ``reveal``."""
        sealed = self.opt.hidden and not reveal  # a wheel's seed names its pick too
        pub = self.scenario.public(sealed)
        options = {**asdict(self.opt), **({"seed": None} if sealed else {})}
        body = {"version": 1, "run_id": self.run_path.name, "scenario": pub["name"],
                "title": pub["title"], "briefing": pub.get("briefing"),
                "mode": "wheel" if self.opt.hidden else self.opt.mode,
                "seed": None if sealed else self.opt.seed,
                "roles": self.opt.roles, "catalog": self._catalog(),
                "controller_url": self.server.url if self.server else None,
                "pid": os.getpid(), "phase": self.phase,
                "expected": self.scenario.limits(self.opt.mode),
                "started_at": self.times.get("started"), "ended_at": self.times.get("ended"),
                "options": options, "times": self.times,
                "credentials": self.credentials.files() if self.credentials else None,
                **extra}
        if reveal:
            key = self.scenario.answer_key()
            body["answer_key"] = {"text": key["root_cause"], **key}
            body["runbooks"] = [self.scenario.runbook] if self.scenario.runbook else []
        atomic_write(Run(self.run_path).drill_file,
                     json.dumps(body, indent=2, default=str), durable=False)

    def _start_load(self) -> None:
        from gameday.load.runner import start_load

        self.set_phase("load")
        # the load outlasts the limit by the headroom a facilitator may extend or pause into
        self.load = start_load("steady", self.opt.users, self.opt.max_duration_s + HEADROOM_S,
                               run=self.run_path, die_with_parent=True)
        self.emit("load_start", who="drill", users=self.opt.users, shape="steady",
                  text=f"steady load, {self.opt.users} users")

    def _wait_steady(self) -> bool:
        """The scenario's probes pass and no alert at all has fired for ``settle_s``; else,
        after ``steady_timeout_s``, the drill stops before any fault with the reason."""
        self.set_phase("steady state")
        if self.stop_event.wait(self.opt.warmup_s):
            return False
        deadline = time.monotonic() + self.opt.steady_timeout_s
        quiet = QuietClock(self.opt.settle_s)
        while not self.stop_event.is_set():
            results = check_steady(self.scenario.experiment, str(self.run_path))
            self._poll_alerts()
            now = time.monotonic()
            quiet.observe([f"{a.alert} ({a.severity})" for a in self.book.firing()], now)
            self._refresh()
            if all_ok(results) and quiet.settled(now):
                self.emit("steady_state", who="drill", ok=True, text="steady state met and "
                          f"no alert for {self.opt.settle_s:g} s before the fault")
                return True
            if now > deadline:
                bad = [f"{r.name}={r.value!r}" + (f" ({r.error})" if r.error else "")
                       for r in results if not r.ok]
                if not quiet.settled(now):
                    bad.append("alerts " + quiet.describe(now))
                text = (f"not steady within {self.opt.steady_timeout_s:g} s, no fault "
                        "injected: " + "; ".join(bad))
                self.emit("steady_state", who="drill", ok=False, text=text)
                self.outcome["error"] = "baseline steady state not met: " + "; ".join(bad)
                return False
            self.stop_event.wait(1.0)
        return False

    # -- the incident -----------------------------------------------------------------------
    def _run_incident(self) -> None:
        self.set_phase("incident")
        hold = int(self.opt.max_duration_s + HEADROOM_S)  # the drill stops it at its end
        ttl = int(min(3600, hold if self.opt.mode != "auto" else AUTO_FAULT_TTL_S))
        self.experiment = ExperimentProcess(
            self.scenario.path, self.scenario.experiment, self.run_path,
            variables={"fault_hold_s": hold, "fault_ttl": f"{ttl}s",
                       "load_duration": f"{hold}s"}, sealed=self.opt.hidden).start()
        self.times["experiment_start"] = self.experiment.started_at
        self.write_drill_file()
        detected = recovered = None
        next_steady = 0.0
        steady_since = None  # first of the consecutive checks that found the steady state
        fault_at = None
        end_at = time.monotonic() + self.opt.max_duration_s
        shift = self.facilitation.shift_s  # a pause or an extension moves every limit
        while not self.stop_event.is_set() and time.monotonic() < end_at + shift():
            self._poll_alerts()
            now = time.time()
            fault_at = fault_at or self._impact_ts()
            if detected is None and self._detecting_alert() is not None:
                detected = now
                self.times["detected"] = now
                self.set_phase("paged")
            if self.opt.mode == "auto":
                self._auto_respond(detected)
            if self.incident.mitigations or self.incident.acked_at:
                self.set_phase("mitigating")
            # recovery: the scenario's steady state met again after a detection
            if detected is not None and recovered is None and time.monotonic() >= next_steady:
                next_steady = time.monotonic() + 2.0
                acted = self.incident.mitigations or not self.experiment.running()
                # recovered: the hypothesis holds on two checks in a row and none of the
                # scenario's pages is still firing (a flapping system is not recovered)
                steady = acted and not self._scenario_page_firing() and all_ok(
                    check_steady(self.scenario.experiment, str(self.run_path)))
                steady_since = (steady_since or time.monotonic()) if steady else None
                if steady and time.monotonic() - steady_since >= 1.5:
                    recovered = time.time()
                    self.times["recovered"] = recovered
                    self.incident.recovered_at = recovered  # resolving is allowed from now
                    self.emit("recovered", who="drill", text="steady state met again")
                    self.set_phase("recovered")
                    if self.opt.mode == "auto":
                        self.incident.act("resolve", {"who": "auto-responder"})
            if self.incident.resolved_at is not None:
                break
            if detected is None and fault_at is not None and \
                    now - fault_at - shift() > self.opt.detect_timeout_s:
                self.emit("detection_missed", who="drill",
                          text=f"no alert {self.opt.detect_timeout_s:g} s after the fault")
                break
            if detected is not None and recovered is None and \
                    now - detected - shift() > self._recover_limit_s():
                self.emit("recovery_timeout", who="drill", text="not recovered in time")
                break
            self._refresh()
            self.stop_event.wait(0.5)
        self.outcome.update({"detected": detected, "recovered": recovered})

    def _scenario_page_firing(self) -> bool:
        names = set(self.scenario.alerts)
        return any(a.alert in names and a.severity == "page"
                   for a in (self.book.firing() if self.book else []))

    def _recover_limit_s(self) -> float:
        """How long after detection the drill waits for recovery: the options' bound, or
        for a person the scenario's calibrated recover limit plus a minute."""
        bound = self.opt.recover_timeout_s + self.opt.detect_timeout_s
        people = self.scenario.limits(self.opt.mode).get("recover_s")
        if self.opt.mode != "auto" and isinstance(people, int | float):
            bound = max(bound, people + 60.0)
        return bound

    def _detecting_alert(self):
        """The first alert since the experiment began that this scenario expects (any page
        when it lists none); alerts of other SLOs are recorded but do not count."""
        since = self.times.get("experiment_start") or 0.0
        for alert in self.book.history:
            if alert.since < since:
                continue
            if alert.alert in self.scenario.alerts or (not self.scenario.alerts
                                                       and alert.severity == "page"):
                return alert
        return None

    def _impact_ts(self) -> float | None:
        """When the first fault started, or the load surge of an overload (load, not a
        fault), as the experiment's process wrote it; reads only what is new."""
        if self._timeline is None:  # a wheel's chaos events are sealed until the end
            self._timeline = TimelineReader(self.experiment.events_path)
        event = self._timeline.first("fault_start") or self._timeline.first("load_surge")
        return event.ts if event else None

    def _poll_alerts(self) -> None:
        if self.opt.prometheus:
            return  # Alertmanager delivers to the webhook
        try:
            self.book.replace(poll_alerts(self.api))
        except Exception as err:  # a missed poll is retried next time
            if self.view is not None:
                self.view.warn(f"alert poll failed: {err}")

    def _on_webhook(self, body: dict) -> tuple[int, dict]:
        from gameday.drill.alerts import ActiveAlert
        from gameday.prometheus.webhook import parse_webhook

        try:
            notices = parse_webhook(body)
        except ValidationError as err:
            return 400, {"ok": False, "message": str(err)}
        if self.book is None:
            return 503, {"ok": False, "message": "drill not ready"}
        for n in notices:
            alert = ActiveAlert(n.alertname, n.severity or "page", n.slo_id, n.runbook_url,
                                n.summary, n.starts_at or time.time())
            self.book.notice(alert, firing=n.status == "firing")
        return 200, {"ok": True, "received": len(notices)}

    def _auto_respond(self, detected: float | None) -> None:
        inc = self.incident
        if detected is None:
            return
        if inc.acked_at is None and time.time() - detected >= self.opt.ack_delay_s:
            alert = self._detecting_alert()
            inc.act("ack", {"who": "auto-responder", "alert": alert.alert if alert else None})
        if inc.acked_at is not None and not inc.mitigations:
            for m in self.scenario.mitigations:
                inc.act("mitigate", {"lever": m.lever, "arguments": m.arguments,
                                     "who": "auto-responder"})

    def _refresh(self) -> None:
        if self.view is not None:
            self.view.refresh(self)

    def _teardown(self) -> None:
        teardown(self)
