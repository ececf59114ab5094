"""Replaying a recording through rule groups on an evaluation schedule, for backtests.

The recording streams from disk (nothing is loaded whole), and only the series the rules
read enter the store: the lines of the recording format (engine/recording.py, version 1)
are decoded here without building a Sample per value, and a series that no selector of
any rule matches (``Selectors``) is skipped when its id is declared. Staleness is kept as
``SampleStore.ingest`` keeps it: a series a target stops exposing, or every series of a
failed scrape, gets a stale marker.

Schedules:
- ``eval_interval`` None: one evaluation per scrape round, at the round's time, after
  every scrape of that time (what the embedded engine does live).
- ``eval_interval`` set: as Prometheus schedules a group, at ``k * interval + offset``
  (absolute time, ``offset`` per group, default 0), each group after every scrape at or
  before its time. ``promtool tsdb create-blocks-from rules`` evaluates at the same
  instants when given the group offsets Prometheus derives from each group's name.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import promql_parser as pp

from gameday.engine.recording import check_header, decode_value
from gameday.engine.ruleeval import RuleGroup
from gameday.engine.store import STALE_NAN, Labels, SampleStore, make_labels, to_ms
from gameday.errors import ValidationError

Progress = Callable[[float, int, float], None]  # (share of the recording read, evals, t)


class ProgressLine:
    """A ``Progress`` on stderr: share of the recording done and evaluations per second,
    one line rewritten on a terminal, else a line every 10 s and one at the end."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label, self.stream = label, stream or sys.stderr
        self.began, self.printed = time.perf_counter(), 0.0
        self.tty = self.stream.isatty()

    def __call__(self, share: float, evals: int, t: float) -> None:
        elapsed = max(time.perf_counter() - self.began, 1e-9)
        done = share >= 1.0
        line = (f"backtest {self.label}: {share * 100:5.1f}% of the recording, "
                f"{evals} evaluations, {evals / elapsed:,.0f}/s")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done else ""))
        elif done or elapsed - self.printed >= 10:
            self.printed = elapsed
            self.stream.write(line + "\n")
        self.stream.flush()


class Selectors:
    """The series selectors of rule groups: which series the rules can read."""

    def __init__(self, groups: list[RuleGroup]) -> None:
        self.matchers: list[list[tuple[str, str, object]]] = []
        for group in groups:
            for rule in group.rules:
                self._walk(rule.node)
        self.names = {v for ms in self.matchers for k, op, v in ms
                      if k == "__name__" and op == "="}

    def _walk(self, node) -> None:
        if isinstance(node, pp.VectorSelector):
            ms = [("__name__", "=", node.name)] if node.name else []
            for m in node.matchers.matchers:
                op = _OPS.get(str(m.op), "=~")
                ms.append((m.name, op, re.compile(m.value) if "~" in op else m.value))
            if node.matchers.or_matchers:
                ms = []  # not narrowed: every series may be read
            self.matchers.append(ms)
            return
        for attr in ("lhs", "rhs", "expr", "vector_selector", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, str | float | int):
                self._walk(child)
        for arg in getattr(node, "args", None) or ():
            self._walk(arg)

    def __contains__(self, labels: dict[str, str]) -> bool:
        return any(_matches(labels, ms) for ms in self.matchers)


_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~",
        "MatchOp.NotRe": "!~"}


def _matches(labels: dict[str, str], matchers) -> bool:
    for key, op, want in matchers:
        have = labels.get(key, "")
        if (op == "=" and have != want) or (op == "!=" and have == want) \
                or (op == "=~" and not want.fullmatch(have)) \
                or (op == "!~" and want.fullmatch(have)):
            return False
    return True


class RecordingStream:
    """A recording's header, then its scrapes as ``(t, target, values, up)``; ``values``
    is a list of (labels, value) of the wanted series, None for a failed scrape."""

    def __init__(self, path: Path, wanted: Selectors | None = None) -> None:
        self.path, self.wanted = Path(path), wanted
        try:
            self._raw = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            self._size = max(1, self.path.stat().st_size)
            self._text = io.TextIOWrapper(gzip.GzipFile(fileobj=self._raw), encoding="utf-8")
            self.header = json.loads(self._text.readline())
        except (OSError, ValueError, EOFError) as err:
            raise ValidationError(f"{self.path}: not a gameday recording ({err})") from None
        check_header(self.path, self.header)

    def share_read(self) -> float:
        """How much of the file has been read (0..1), by compressed bytes."""
        return min(1.0, self._raw.tell() / self._size)

    def scrapes(self) -> Iterator[tuple[float, tuple, list | None, Labels | None]]:
        """``(t, (job, instance), values, up)``: ``up`` the labels of the target's ``up``
        series when a rule reads ``up``, else None."""
        series: dict[int, Labels | None] = {}
        targets: dict[int, tuple[str, str, Labels | None]] = {}
        n = 1
        try:
            for line in self._text:
                n += 1
                try:
                    obj = json.loads(line)
                except ValueError:
                    if not line.endswith("\n"):
                        return  # a run killed mid-line: the start is good
                    raise ValidationError(f"{self.path}: line {n}: not JSON") from None
                if "scrape" in obj:
                    job, instance, up = targets[obj["scrape"]]
                    values = None
                    if obj["up"]:
                        values = [(key, decode_value(v)) for sid, v in obj["v"]
                                  if (key := series[sid]) is not None]
                    yield float(obj["t"]), (job, instance), values, up
                elif "series" in obj:
                    labels = obj["labels"]
                    series[obj["series"]] = make_labels(labels) \
                        if self.wanted is not None and labels in self.wanted else None
                elif "target" in obj:
                    job, instance = obj["job"], obj["instance"]
                    up = make_labels([("__name__", "up"), ("job", job), ("instance", instance),
                                      *obj.get("labels", {}).items()]) \
                        if self.wanted is not None and "up" in self.wanted.names else None
                    targets[obj["target"]] = (job, instance, up)
        except (OSError, EOFError):
            return  # a gzip stream cut short: it ends at its last full line

    def close(self) -> None:
        self._text.close()
        self._raw.close()


class Replayer:
    """Feeds scrapes into ``store`` with the staleness ``SampleStore.ingest`` gives."""

    def __init__(self, store: SampleStore) -> None:
        self.store = store
        self._last: dict[tuple[str, str], set[Labels]] = {}

    def ingest(self, t: float, target: tuple[str, str], values: list | None,
               up: Labels | None) -> None:
        append = self.store.append
        if up is not None:
            append(up, t, 0.0 if values is None else 1.0)
        seen: set[Labels] = set()
        for key, value in values or ():
            append(key, t, value)
            seen.add(key)
        for gone in self._last.get(target, set()) - seen:
            append(gone, t, STALE_NAN)
        self._last[target] = seen


def replay(path: Path, groups: list[RuleGroup], store: SampleStore,
           on_eval: Callable[[float], None], eval_interval: float | None = None,
           offsets: dict[str, float] | None = None,
           progress: Progress | None = None,
           skip: Callable[[float], bool] | None = None) -> tuple[dict, int]:
    """Evaluate ``groups`` over the recording at ``path``; ``on_eval(t)`` after each
    evaluation instant. Returns the header and the number of instants evaluated.
    ``skip(t)``: instants of the schedule not to evaluate (to mirror another tool's gaps)."""
    stream = RecordingStream(path, Selectors(groups))
    feeder = Replayer(store)
    evals = 0
    last_report = time.monotonic()

    def report(t: float, force: bool = False) -> None:
        nonlocal last_report
        if progress is not None and (force or time.monotonic() - last_report >= 1.0):
            last_report = time.monotonic()
            progress(1.0 if force else stream.share_read(), evals, t)

    def evaluate(t: float, due: list[RuleGroup]) -> None:
        nonlocal evals
        for group in due:
            group.evaluate(store, t)
        evals += 1
        on_eval(t)
        report(t)

    def due(t: float, groups_due: list[RuleGroup]) -> None:
        if skip is None or not skip(t):
            evaluate(t, groups_due)

    try:
        if eval_interval is None:
            current = None
            for t, *scrape in stream.scrapes():
                if current is not None and t != current:
                    evaluate(current, groups)
                current = t
                feeder.ingest(t, *scrape)
            if current is not None:
                evaluate(current, groups)
                report(current, force=True)
        else:
            schedule = Schedule(groups, eval_interval, offsets or {})
            last_t = None
            for t, *scrape in stream.scrapes():
                if schedule.next_t is None:
                    schedule.start(t)
                while to_ms(schedule.next_t) < to_ms(t):
                    due(*schedule.pop())
                feeder.ingest(t, *scrape)
                last_t = t
            if last_t is not None:
                while to_ms(schedule.next_t) <= to_ms(last_t):
                    due(*schedule.pop())
                report(last_t, force=True)
    finally:
        stream.close()
    return stream.header, evals


class Schedule:
    """Instants ``k * interval + offset`` of each group, in time order (groups of the same
    instant in their file order)."""

    def __init__(self, groups: list[RuleGroup], interval: float,
                 offsets: dict[str, float]) -> None:
        if not interval > 0 or not math.isfinite(interval):
            raise ValidationError(f"--eval-interval: must be a positive duration, got "
                                  f"{interval!r}")
        self.interval_ms = to_ms(interval)
        # by offset, then file order: one slot per distinct offset
        slots: dict[int, list[RuleGroup]] = {}
        for group in groups:
            off = to_ms(offsets.get(group.name, 0.0)) % self.interval_ms
            slots.setdefault(off, []).append(group)
        self.slots = sorted(slots.items())
        self.k = 0  # the current cycle: k * interval
        self.slot = 0
        self.next_t: float | None = None

    def start(self, first_t: float) -> None:
        """The first instant at or after ``first_t``."""
        first = to_ms(first_t)
        self.k = first // self.interval_ms
        self.slot = 0
        while self._ms() < first:
            self._advance()
        self.next_t = self._ms() / 1000

    def _ms(self) -> int:
        return self.k * self.interval_ms + self.slots[self.slot][0]

    def _advance(self) -> None:
        self.slot += 1
        if self.slot == len(self.slots):
            self.slot, self.k = 0, self.k + 1

    def pop(self) -> tuple[float, list[RuleGroup]]:
        t, due = self.next_t, self.slots[self.slot][1]
        self._advance()
        self.next_t = self._ms() / 1000
        return t, due
