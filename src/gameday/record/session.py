"""One ``gameday record`` session: the live stack under load, faults on a schedule, every
scrape into a recording.

The scrapes go through the embedded engine's own scraper and recording writer (the format
of ``gameday.engine.recording``), so a recording made here is read like a drill's. The file
is written under a temporary name beside the output and renamed when the session ends, on
time or interrupted (what was recorded up to then is a valid, shorter recording); a failed
session leaves nothing under the output name.

    opts = RecordOptions(out=Path("x.jsonl.gz"), duration_s=300, profile="steady", users=10,
                         schedule=load_schedule(Path("plan.yaml"), 300))
    validate_options(opts)
    result = RecordSession(opts).run(on_progress=print)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gameday.engine.recording import RecordingWriter
from gameday.errors import GamedayError, StackError, ValidationError
from gameday.record.schedule import ScheduledFault
from gameday.userfiles import temp_beside

log = logging.getLogger("gameday.record")

WHO = "record"
MIN_INTERVAL_S = 0.2


@dataclass
class RecordOptions:
    out: Path
    duration_s: float
    profile: str | None = "steady"  # None: no load of our own
    users: int = 10
    schedule: list[ScheduledFault] = field(default_factory=list)
    schedule_file: str | None = None
    interval_s: float = 1.0
    attach: str | None = None  # a run id or folder; None: start a stack of our own
    force: bool = False
    sets: tuple[str, ...] = ()  # --set for a stack of our own
    warmup_s: float = 0.0  # load runs this long before the recording starts


@dataclass
class Progress:
    elapsed_s: float
    total_s: float
    scrapes: int
    failed: int
    series: int
    active_faults: list[str]


@dataclass
class RecordResult:
    out: Path
    recorded_s: float
    scrapes: int
    failed: int
    series: int
    interrupted: bool
    faults_applied: int
    run_id: str


def validate_options(opts: RecordOptions) -> None:
    """Everything that can be checked before a stack starts; ValidationError naming the
    option and the value."""
    from gameday.load.profiles import validate_profile
    from gameday.userfiles import check_output_file

    out = Path(opts.out)
    if not out.name.endswith(".jsonl.gz"):
        raise ValidationError(f"-o: a recording is a .jsonl.gz file, got {str(out)!r}")
    check_output_file(out, "the recording")
    if out.exists() and not opts.force:
        raise ValidationError(f"{out}: exists; give --force to replace it")
    if not out.parent.is_dir():
        raise ValidationError(f"{out}: folder {str(out.parent)!r} does not exist")
    if opts.duration_s <= 0:
        raise ValidationError(f"--duration: must be above zero, got {opts.duration_s:g}s")
    if opts.warmup_s < 0:
        raise ValidationError(f"--warmup: must be zero or more, got {opts.warmup_s:g}s")
    if opts.interval_s < MIN_INTERVAL_S:
        raise ValidationError(f"--interval: at least {MIN_INTERVAL_S:g}s, got "
                              f"{opts.interval_s:g}s")
    if opts.profile is not None:
        validate_profile(opts.profile)
        if opts.users < 1:
            raise ValidationError(f"--users: must be at least 1, got {opts.users}")
    for step in opts.schedule:
        if step.at_s >= opts.duration_s:
            raise ValidationError(f"{opts.schedule_file}: a fault at "
                                  f"{step.at_s:g}s starts after the recording ends "
                                  f"({opts.duration_s:g}s)")


def provenance(opts: RecordOptions, run_id: str) -> dict:
    """What the header says this recording is."""
    from gameday import __version__

    load = None if opts.profile is None else {"profile": opts.profile, "users": opts.users}
    return {"recorded": True, "stitched": False, "tool": "gameday record",
            "gameday_version": __version__, "duration_s": opts.duration_s,
            "interval_s": opts.interval_s, "warmup_s": opts.warmup_s, "load": load,
            "fault_schedule": {"file": (Path(opts.schedule_file).name
                                        if opts.schedule_file else None),
                               "faults": [s.as_dict() for s in opts.schedule]},
            "stack": {"attached": opts.attach is not None, "run": run_id,
                      "sets": list(opts.sets)}}


class RecordSession:
    def __init__(self, opts: RecordOptions, home: Path | None = None) -> None:
        self.opts = opts
        self.home = home
        self.stack = None  # gameday.stack.local.Stack when we started it
        self.load = None
        self.added: list[tuple[ScheduledFault, list[str], list[str]]] = []  # step, procs, ids

    # -- the stack ------------------------------------------------------------------------
    def _open_stack(self):
        """(Run, StackState) of the stack to record."""
        from gameday.stack.control import load_state, supervisor_alive

        if self.opts.attach is not None:
            run, state = load_state(self.opts.attach, self.home)
            if not supervisor_alive(state):
                raise StackError(f"--attach: run {run.id} is not running ({state.status})")
            return run, state
        from gameday.stack.local import Stack
        from gameday.stack.spec import build_spec

        # Free ports, beside any other stack; no monitor: this session is the scraper.
        spec = build_spec(free_ports=True, sets=["stack.monitor=false", *self.opts.sets])
        self.stack = Stack(spec, home=self.home, kind="process").start()
        return self.stack.run, self.stack.state()

    @staticmethod
    def check_services(state, schedule: list[ScheduledFault], source: str | None) -> None:
        from gameday.stack import admin

        for i, step in enumerate(schedule):
            if not state.of_service(step.service):
                have = ", ".join(sorted({p.name for p in state.processes}))
                raise ValidationError(f"{source}: faults[{i}].fault.service: the stack has "
                                      f"no service {step.service!r}; have: {have}")
            try:
                admin.select(state, step.service, step.replica)
            except ValidationError as err:
                raise ValidationError(f"{source}: faults[{i}].fault.replica: "
                                      f"{str(err).split(': ', 1)[1]}") from None

    # -- the run ----------------------------------------------------------------------------
    def run(self, on_progress: Callable[[Progress], None] | None = None,
            stop: Callable[[], bool] | None = None) -> RecordResult:
        """Record until the duration is over, ``stop()`` says so, or Ctrl-C (interrupted:
        the recording so far is kept)."""
        from gameday.engine.scraper import Scraper, targets_from_urls
        from gameday.engine.store import SampleStore
        from gameday.faults.client import FaultClient

        opts = self.opts
        out = Path(opts.out)
        part = temp_beside(out)  # renamed at the end, as gameday.userfiles does
        writer = scraper = None
        interrupted = False
        try:
            run, state = self._open_stack()
            self.check_services(state, opts.schedule, opts.schedule_file)
            targets: dict[str, list[str]] = {}
            for p in sorted(state.processes, key=lambda p: (p.name, p.replica)):
                targets.setdefault(p.name, []).append(p.url)
            faults = FaultClient(run, state, WHO)
            if opts.profile is not None:
                self._start_load(run, state)
            self._warm_up(on_progress, stop)
            started = time.time()
            writer = RecordingWriter(part, started, opts.interval_s,
                                     extra={"provenance": provenance(opts, run.id)})
            # The store only feeds the series count: keep a few intervals of it.
            store = SampleStore(max_age=max(10 * opts.interval_s, 10.0), max_points=16)
            scraper = Scraper(targets_from_urls(targets), store, interval_s=opts.interval_s,
                              recording=writer).start()
            t0 = time.monotonic()
            pending = list(opts.schedule)
            try:
                while True:
                    elapsed = time.monotonic() - t0
                    if elapsed >= opts.duration_s or (stop is not None and stop()):
                        break
                    while pending and pending[0].at_s <= elapsed:
                        self._apply(faults, pending.pop(0))
                    if on_progress is not None:
                        on_progress(self._progress(scraper, elapsed))
                    time.sleep(min(0.5, max(0.05, opts.duration_s - elapsed)))
            except KeyboardInterrupt:
                interrupted = True
            recorded_s = time.monotonic() - t0
            scraper.stop()  # closes the writer
            scraper_done = scraper
            scraper = None
            self._clear_faults(faults)
            os.replace(part, out)
            return RecordResult(out, recorded_s, scraper_done.scrapes, scraper_done.failures,
                                len(store), interrupted, len(self.added), run.id)
        finally:
            if scraper is not None:
                scraper.stop()
            if part.exists():
                part.unlink()
            self._teardown()

    def _start_load(self, run, state) -> None:
        from gameday.load.runner import start_load

        gateway = next((p for p in state.processes if p.name == "gateway"), None)
        if gateway is None:
            raise StackError(f"run {run.id}: no gateway to send load to")
        features = next((p.url for p in state.processes if p.name == "features"), None)
        # Locust's own shape ends the load with the recording (plus its grace).
        self.load = start_load(self.opts.profile, self.opts.users,
                               self.opts.warmup_s + self.opts.duration_s,
                               host=gateway.url, features_host=features, run=run,
                               die_with_parent=True)

    def _warm_up(self, on_progress, stop) -> None:
        """Let the load reach its pace before the first scrape is recorded."""
        end = time.monotonic() + self.opts.warmup_s
        while (left := end - time.monotonic()) > 0 and not (stop is not None and stop()):
            if on_progress is not None:
                on_progress(Progress(-left, self.opts.duration_s, 0, 0, 0, []))
            time.sleep(min(0.5, left))

    def _apply(self, faults, step: ScheduledFault) -> None:
        try:
            added = faults.add(step.service, step.body, step.replica)
        except GamedayError as err:  # the recording goes on; the header lists the plan
            log.warning("record: could not apply %s: %s", step.describe(), err)
            return
        self.added.append((step, [pid for pid, _ in added],
                           [f.get("id") for _, f in added if isinstance(f, dict)]))

    def _clear_faults(self, faults) -> None:
        """Remove what this session added and is still active (the TTL bounds it anyway)."""
        for step, _, ids in self.added:
            for fault_id in ids:
                try:
                    faults.remove(fault_id, step.service)
                except GamedayError as err:
                    log.warning("record: could not remove fault %s: %s", fault_id, err)

    def _progress(self, scraper, elapsed: float) -> Progress:
        active = [s.describe() for s, _, _ in self.added if s.at_s <= elapsed < s.end_s]
        with scraper.lock:  # the scraper thread adds series
            series = len(scraper.store)
        return Progress(elapsed, self.opts.duration_s, scraper.scrapes, scraper.failures,
                        series, active)

    def _teardown(self) -> None:
        if self.load is not None:
            try:
                self.load.stop(timeout=20)
            except Exception as err:  # noqa: BLE001 - teardown goes on
                log.warning("record: stopping Locust: %r", err)
        if self.stack is not None:
            self.stack.stop()
