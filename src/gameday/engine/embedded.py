"""Two engines, one interface: the embedded evaluator (default) and real Prometheus.

Both run the same generated rule files. Callers ask an engine for an instant query and for
the active alerts; they do not care which one answers.

- ``EmbeddedEngine``: scrapes the stack each second into a bounded store, writes a
  recording, and evaluates each rule group on its own schedule, in a thread of its own:
  Prometheus's slots (``gameday.engine.schedule``), every due slot at its timestamp, the
  late and missed ones counted.
- ``PrometheusEngine``: reads a running Prometheus through its HTTP API.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from gameday.engine.promql import evaluate
from gameday.engine.recording import RecordingWriter, replay
from gameday.engine.ruleeval import RuleGroup, evaluate_groups, load_rule_file
from gameday.engine.schedule import EvaluationSchedule
from gameday.engine.scraper import Scraper, targets_from_urls
from gameday.engine.store import SampleStore
from gameday.prometheus.api import PrometheusAPI

log = logging.getLogger("gameday.engine.embedded")

class Engine(Protocol):
    def query(self, expr: str, at: float | None = None) -> list[tuple[dict, float]]: ...

    def alerts(self) -> list[dict]: ...


def load_groups(rule_files: list[Path], default_interval_s: float = 1.0) -> list[RuleGroup]:
    return [g for path in rule_files for g in load_rule_file(path, default_interval_s)]


class EmbeddedEngine:
    def __init__(self, rule_files: list[Path], store: SampleStore | None = None,
                 lookback_s: float = 300.0, max_age_s: float = 3 * 3600.0,
                 evaluation_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        """Groups without an ``interval`` run every ``evaluation_interval_s``: 1 s, as in the
        Prometheus config gameday writes (``PrometheusConfig.evaluation_interval``)."""
        self.store = store or SampleStore(max_age=max_age_s, lookback=lookback_s)
        self.groups = load_groups(rule_files, evaluation_interval_s)
        self.scraper: Scraper | None = None
        self._lock = threading.Lock()
        self.last_tick: float | None = None
        self.clock = clock
        self.schedule = EvaluationSchedule.for_groups(self.groups)
        self._stop = threading.Event()
        self._evaluator: threading.Thread | None = None

    # -- feeding ------------------------------------------------------------------------
    def tick(self, t: float) -> None:
        """Evaluate the rule groups that are due at ``t``."""
        with self._lock:
            evaluate_groups(self.groups, self.store, t)
            self.last_tick = t

    def evaluate_due(self, now: float | None = None) -> int:
        """Evaluate every slot due at ``now`` (the live schedule), oldest first, each at its
        own timestamp; returns how many were evaluated."""
        due = self.schedule.due(self.clock() if now is None else now)
        for index, slot in due:
            group = self.groups[index]
            started = self.clock()
            try:
                with self._lock:  # one group at a time: scrapes may land between groups
                    group.evaluate(self.store, slot)
                    self.last_tick = slot if self.last_tick is None else max(self.last_tick,
                                                                              slot)
                failures = len(group.errors)
            except Exception:  # a bug in one group must not cost the others their slot
                log.exception("rule group %r: evaluation at %.3f failed", group.name, slot)
                failures = len(group.rules)
            self.schedule.done(index, slot, started, self.clock(), failures)
        return len(due)

    def start_scraping(self, targets: dict[str, list[str]], interval_s: float = 1.0,
                       recording: Path | None = None) -> EmbeddedEngine:
        """Scrape every ``interval_s`` and evaluate the rules on their own schedule."""
        writer = RecordingWriter(recording, time.time(), interval_s) if recording else None
        # One lock: an ingest and a group's evaluation never interleave.
        self.scraper = Scraper(targets_from_urls(targets), self.store, interval_s=interval_s,
                               recording=writer, lock=self._lock)
        self.scraper.start()
        self.start_evaluating()
        return self

    def start_evaluating(self) -> EmbeddedEngine:
        self.schedule.start(self.clock())
        self._evaluator = threading.Thread(target=self._evaluate_loop, daemon=True,
                                           name="gameday-rules")
        self._evaluator.start()
        return self

    def _evaluate_loop(self) -> None:
        while not self._stop.is_set():
            next_due = self.schedule.next_due()
            if next_due is None:
                return
            if self._stop.wait(max(0.0, next_due - self.clock())):
                return
            self.evaluate_due()

    def replay(self, recording: Path, step_s: float = 1.0) -> dict:
        """Feed a recording and evaluate the rules along it, as if it were live."""
        header = replay(recording, self.store)
        start = header["started_at"]
        end = max((ring[-1][0] / 1000 for _, ring in self.store.series([]) if len(ring)),
                  default=start)
        t = start
        while t <= end:
            self.tick(t)
            t += step_s
        return header

    def stop(self) -> None:
        self._stop.set()
        if self._evaluator is not None:
            self._evaluator.join(5)
        if self.scraper is not None:
            self.scraper.stop()

    # -- reading ------------------------------------------------------------------------
    def evaluate(self, expr: str, at: float | None = None) -> float | list[tuple[dict, float]]:
        """A scalar stays a float; a vector is a list of (labels, value)."""
        at = self.last_tick if at is None and self.last_tick is not None else at
        with self._lock:
            result = evaluate(self.store, expr, time.time() if at is None else at)
        if isinstance(result, float):
            return result
        return [(dict(labels), value) for labels, value in result]

    def raw_samples(self, expr: str, at: float) -> list[tuple[dict, list]] | None:
        """What a bare range selector (``name{...}[2m]``) selects at ``at``: each series'
        stored (time, value) points, as Prometheus answers such an instant query (a matrix).
        None for any other expression."""
        import promql_parser as pp

        from gameday.engine.promql import PromQLError, _Evaluator, parse
        from gameday.engine.store import to_ms

        try:
            node = parse(expr)
        except PromQLError:
            return None
        if not isinstance(node, pp.MatrixSelector):
            return None
        with self._lock:
            matrix = _Evaluator(self.store, to_ms(at), expr).select_range(node)
        return [(dict(labels), [(t / 1000, v) for t, v in zip(ts, vs, strict=True)])
                for labels, ts, vs in matrix]

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict, float]]:
        result = self.evaluate(expr, at)
        return [({}, result)] if isinstance(result, float) else result

    def alerts(self) -> list[dict]:
        with self._lock:
            return [a.as_dict() for g in self.groups for a in g.alerts()]


class PrometheusEngine:
    def __init__(self, url: str) -> None:
        self.api = PrometheusAPI(url)

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict, float]]:
        return [(s.labels, s.value) for s in self.api.query(expr, at)]

    def alerts(self) -> list[dict]:
        return [{"labels": a["labels"], "annotations": a.get("annotations", {}),
                 "state": a["state"], "active_at": a.get("activeAt"),
                 "value": float(a.get("value", "nan"))} for a in self.api.alerts()]
