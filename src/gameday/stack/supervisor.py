"""The supervisor loop: start every process, wait for readiness, restart crashes with
backoff, kill on memory limit, and stop everything on request.

``Supervisor.run()`` blocks and must run in the thread that lives as long as the stack (the
main thread for ``gameday up``, a dedicated thread for the in-process ``Stack``): every child
is spawned from it, so the children's parent-death signal fires only when the stack is gone.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable

import httpx

from gameday.errors import StackError
from gameday.runfolder import Run
from gameday.stack.backoff import Backoff
from gameday.stack.events import EventLog
from gameday.stack.health import probe_ready
from gameday.stack.observe import Observers
from gameday.stack.plan import check_ports_free, plan_processes
from gameday.stack.process import ManagedProcess, describe_exit, rss_mb
from gameday.stack.scaling import forget_if_scaled_down, scale_to
from gameday.stack.spec import StackSpec
from gameday.stack.state import StackState, write_state

HEARTBEAT_S = 5.0
PROBE_EVERY_S = 0.1


class Supervisor:
    def __init__(self, spec: StackSpec, run: Run,
                 on_tick: Callable[[StackState], None] | None = None) -> None:
        self.spec = spec
        self.run_dir = run
        self.settings = spec.settings
        s = spec.settings
        self.backoff = Backoff(s.backoff_initial_s, s.backoff_factor, s.backoff_max_s,
                               s.backoff_reset_s)
        self.events = EventLog(run.supervisor_log)
        self.on_tick = on_tick
        self.processes: list[ManagedProcess] = []
        self.status = "starting"
        self.error: str | None = None
        self.started_at = time.time()
        self.ready_at: float | None = None
        self.state: StackState | None = None
        self.settled = threading.Event()  # status left "starting"
        self.done = threading.Event()  # run() returned, everything stopped
        self._stop = threading.Event()
        self._force = False
        self._stopping = False
        self._requests: queue.Queue[dict] = queue.Queue()
        self._written: str | None = None
        self._written_at = 0.0
        self._client: httpx.Client | None = None
        self.observers = Observers(run.path, spec.settings, self.events)

    # -- requests from other threads, signal handlers and processes ---------------------
    def request_stop(self, force: bool = False) -> None:
        if force or self._stop.is_set():
            self._force = force or self._stop.is_set()
        self._stop.set()

    def request_restart(self, name: str, replica: int = 0) -> None:
        self._requests.put({"action": "restart", "name": name, "replica": replica})

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM/SIGHUP stop the stack; a second one kills at once. Main thread only."""
        def handler(signum, frame):
            self.events.emit("signal", signal=signal.Signals(signum).name)
            self.request_stop(force=self._stop.is_set())

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, handler)

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> StackState:
        self._client = httpx.Client()
        try:
            self._prepare()
            for p in self.processes:
                self._spawn(p)
            self.observers.launch_prometheus(self._targets())
            deadline = time.monotonic() + self.settings.ready_timeout_s
            while not self._stop.is_set():
                self.tick()
                if self.status == "starting":
                    if (all(p.state == "ready" for p in self.processes)
                            and self.observers.prometheus_ready()):
                        self.status = "running"
                        self.ready_at = time.time()
                        self.events.emit("stack_ready",
                                         after_s=round(self.ready_at - self.started_at, 3))
                        self._start_monitor()
                    elif time.monotonic() > deadline:
                        self._fail(self._not_ready_message())
                        break
                self._publish()
                if self.status != "starting":
                    self.settled.set()
                if self.on_tick is not None:
                    self._call_on_tick()
                self._stop.wait(self.settings.tick_s)
        except StackError as err:
            self._fail(str(err))
        except Exception as err:  # keep the stop below, and say what happened
            self.events.emit("supervisor_error", error=repr(err), trace=traceback.format_exc())
            self._fail(f"supervisor error: {err!r}")
        finally:
            self._stop_monitor()
            self._stop_all()
            self.status = "failed" if self.error else "stopped"
            self.events.emit("stack_" + self.status)
            self._publish(force=True)
            self._client.close()
            self.settled.set()
            self.done.set()
        return self.state

    def _targets(self) -> dict[str, list[str]]:
        targets: dict[str, list[str]] = {}
        for p in self.processes:
            targets.setdefault(p.spec.name, []).append(p.spec.url)
        return targets

    def _start_monitor(self) -> None:
        """Scrape, record and evaluate SLOs while the stack runs; never fatal to the stack."""
        self.observers.start_monitor(self._targets())

    def _stop_monitor(self) -> None:
        self.observers.stop()

    def _call_on_tick(self) -> None:
        """A display callback must never take the stack down with it."""
        try:
            self.on_tick(self.state)
        except Exception as err:
            self.events.emit("on_tick_error", error=repr(err))
            self.on_tick = None

    def _prepare(self) -> None:
        self.run_dir.spec_path.write_text(self.spec.model_dump_json(indent=2))
        planned = plan_processes(self.spec, self.run_dir)
        self.processes = [ManagedProcess(p) for p in planned]
        self._publish(force=True)
        check_ports_free(planned)
        self.events.emit("stack_starting", pid=os.getpid(), run=self.run_dir.id,
                         processes={p.id: p.url for p in planned})

    def tick(self) -> None:
        self._read_control_files()
        while True:
            try:
                self._handle_request(self._requests.get_nowait())
            except queue.Empty:
                break
        now = time.monotonic()
        for p in list(self.processes):  # scaling may remove processes
            self._reconcile(p, now)

    def _reconcile(self, p: ManagedProcess, now: float) -> None:
        if p.popen is not None:
            rc = p.popen.poll()
            if rc is not None:
                self._on_exit(p, rc, now)
                return
            if p.term_deadline is not None and now >= p.term_deadline:
                p.signal_group(signal.SIGKILL)
                return
            limit = p.spec.memory_limit_mb
            if limit is not None and p.kill_reason is None:
                rss = rss_mb(p.popen.pid)
                if rss is not None and rss > limit:
                    p.kill_reason = "OOMKilled"
                    self.events.emit("oom_kill", p.id, pid=p.pid, rss_mb=round(rss, 1),
                                     limit_mb=limit)
                    p.signal_group(signal.SIGKILL)
                    return
            if p.state == "starting" and now >= p.next_probe:
                p.next_probe = now + PROBE_EVERY_S
                if probe_ready(p.spec.url, p.spec.ready_path, self.settings.probe_timeout_s,
                               self._client):
                    p.state = "ready"
                    p.ready_at = time.time()
                    self.events.emit("ready", p.id, pid=p.pid,
                                     after_s=round(time.monotonic() - p.started_mono, 3))
        elif p.state == "backoff" and p.next_start_mono is not None and now >= p.next_start_mono:
            self._spawn(p)

    def _spawn(self, p: ManagedProcess) -> None:
        again = p.started_at is not None
        try:
            p.start()
        except OSError as err:
            p.popen = None
            self.events.emit("start_failed", p.id, error=str(err))
            p.started_at = p.started_at or time.time()
            p.last_exit_code, p.last_exit_reason = 127, f"StartError ({err.strerror or err})"
            self._schedule_restart(p, 0.0, time.monotonic())
            return
        if again:
            p.restarts += 1
        self.events.emit("started", p.id, pid=p.pid, url=p.spec.url, restarts=p.restarts)

    def _on_exit(self, p: ManagedProcess, rc: int, now: float) -> None:
        code, reason = describe_exit(rc, p.kill_reason)
        ran = now - p.started_mono
        self.events.emit("exited", p.id, pid=p.popen.pid, code=code, reason=reason,
                         ran_s=round(ran, 3))
        p.popen = None
        p.term_deadline = None
        p.last_exit_code, p.last_exit_reason = code, reason
        if forget_if_scaled_down(self, p):
            return
        if self._stopping:
            p.state = "stopped"
        elif p.restart_now:
            self._spawn(p)
        elif not p.spec.restart:
            p.state = "crashed"
        else:
            healthy = time.time() - p.ready_at if p.ready_at is not None else 0.0
            self._schedule_restart(p, healthy, now)

    def _schedule_restart(self, p: ManagedProcess, healthy_s: float, now: float) -> None:
        """Back off; ``healthy_s`` is how long it had been ready (long enough resets)."""
        p.crashes = self.backoff.next_crash_count(p.crashes, healthy_s)
        delay = self.backoff.delay(p.crashes)
        p.state = "backoff"
        p.next_start_mono = now + delay
        p.next_start_at = time.time() + delay
        self.events.emit("backoff", p.id, delay_s=delay, crashes=p.crashes)

    def _handle_request(self, req: dict) -> None:
        if req.get("action") == "scale" and not self._stopping:
            scale_to(self, req)
            return
        matches = [p for p in self.processes
                   if p.spec.name == req.get("name") and p.spec.replica == req.get("replica")]
        if not matches or req.get("action") != "restart" or self._stopping:
            self.events.emit("request_ignored", request=req)
            return
        p = matches[0]
        self.events.emit("restart_requested", p.id)
        if p.running():
            p.kill_reason = "RestartRequested"
            p.restart_now = True
            p.terminate(self.settings.stop_grace_s)
        else:
            p.crashes = 0
            self._spawn(p)

    def _read_control_files(self) -> None:
        try:
            files = sorted(self.run_dir.control_dir.glob("*.json"))
        except OSError:
            return
        for f in files:
            try:
                req = json.loads(f.read_text())
            except (OSError, ValueError):
                req = None
            f.unlink(missing_ok=True)
            if isinstance(req, dict):
                self._requests.put(req)

    # -- stop -------------------------------------------------------------------------------
    def _stop_all(self) -> None:
        self._stopping = True
        if self.status != "failed":
            self.status = "stopping"
        self._publish(force=True)
        for p in self.processes:
            if p.running():
                p.kill_reason = p.kill_reason or "Stopped"
                p.restart_now = False
                p.terminate(self.settings.stop_grace_s)
            elif p.popen is None:
                p.state = "stopped"
        deadline = time.monotonic() + self.settings.stop_grace_s
        while time.monotonic() < deadline and not self._force:
            self._reap_exited()
            if not any(p.popen is not None for p in self.processes):
                return
            time.sleep(0.05)
        for p in self.processes:
            if p.popen is not None:
                p.signal_group(signal.SIGKILL)
                p.popen.wait()
        self._reap_exited()

    def _reap_exited(self) -> None:
        now = time.monotonic()
        for p in list(self.processes):
            if p.popen is not None:
                rc = p.popen.poll()
                if rc is not None:
                    self._on_exit(p, rc, now)

    def _fail(self, message: str) -> None:
        self.error = message
        self.status = "failed"
        self.events.emit("stack_failed", error=message)

    # -- state ------------------------------------------------------------------------------
    def _not_ready_message(self) -> str:
        waiting = [p for p in self.processes if p.state != "ready"]
        if not waiting:
            prom = self.observers.prometheus
            return (f"prometheus not ready on {prom.url} after "
                    f"{self.settings.ready_timeout_s:g} s; log: {prom.log_path}")
        p = waiting[0]
        detail = f"state {p.state}"
        if p.last_exit_reason:
            detail += f", last exit {p.last_exit_reason} (code {p.last_exit_code})"
        also = f"; also not ready: {', '.join(q.id for q in waiting[1:])}" if waiting[1:] else ""
        return (f"{p.id} not ready on {p.spec.url}{p.spec.ready_path} after "
                f"{self.settings.ready_timeout_s:g} s ({detail}); log: {p.spec.log_path}{also}")

    def snapshot(self) -> StackState:
        return StackState(
            run_id=self.run_dir.id, run_dir=str(self.run_dir.path.resolve()),
            supervisor_pid=os.getpid(), status=self.status, error=self.error,
            started_at=self.started_at, ready_at=self.ready_at, updated_at=time.time(),
            processes=[p.to_state() for p in self.processes],
            query_url=self.observers.query_url, embedded_url=self.observers.embedded_url,
            prometheus_url=self.observers.prometheus_url,
            alertmanager_url=self.observers.alertmanager_url,
        )

    def _publish(self, force: bool = False) -> None:
        state = self.snapshot()
        key = state.model_dump_json(exclude={"updated_at"})
        now = time.monotonic()
        if force or key != self._written or now - self._written_at >= HEARTBEAT_S:
            write_state(self.run_dir.state_path, state)
            self._written, self._written_at = key, now
        self.state = state
