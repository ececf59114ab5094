"""When the embedded engine evaluates its rule groups: Prometheus's slots, and a count of them.

Prometheus's rule manager gives every group a fixed phase: its evaluation timestamps are
``k * interval + offset``, where ``offset`` is a hash of the group's name and file modulo the
interval (``Group.EvalTimestamp``), and each iteration evaluates at its slot's timestamp, not
at the wall-clock time it happens to run. When a group falls behind by whole intervals,
Prometheus skips the slots it missed and counts them in
``prometheus_rule_group_iterations_missed_total``.

The embedded engine uses the same slots (same hash: xxHash64 of Prometheus's label
encoding of ``{file, name}``), so that with the same rule files both engines store their
recording-rule samples at the same millisecond timestamps and can be compared point by
point. It differs in one thing: it catches up. Every due slot is evaluated, at its own
timestamp and in timestamp order across groups, as long as it is at most ``max_catch_up_s``
old; only older slots are skipped. Both are counted: ``late`` (evaluated more than one
interval after its slot, i.e. a Prometheus that would have skipped it) and ``missed``
(skipped). Nothing is skipped silently.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_M64 = 0xFFFFFFFFFFFFFFFF
_P1, _P2, _P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
_P4, _P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * _P2) & _M64, 31) * _P1) & _M64


def xxh64(data: bytes, seed: int = 0) -> int:
    """xxHash64 (the hash Prometheus's ``labels.Labels.Hash`` uses)."""
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M64, (seed + _P2) & _M64, seed & _M64, (seed - _P1) & _M64]
        while i + 32 <= n:
            lanes = struct.unpack_from("<4Q", data, i)
            v = [_round(a, lane) for a, lane in zip(v, lanes, strict=True)]
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M64
        for a in v:
            h = (((h ^ _round(0, a)) * _P1) + _P4) & _M64
    else:
        h = (seed + _P5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        h ^= _round(0, struct.unpack_from("<Q", data, i)[0])
        h = (_rotl(h, 27) * _P1 + _P4) & _M64
        i += 8
    if i + 4 <= n:
        h ^= (struct.unpack_from("<I", data, i)[0] * _P1) & _M64
        h = (_rotl(h, 23) * _P2 + _P3) & _M64
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M64
        h = (_rotl(h, 11) * _P1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M64
    h ^= h >> 29
    h = (h * _P3) & _M64
    return h ^ (h >> 32)


def group_offset_ms(name: str, file: str, interval_ms: int) -> int:
    """The phase of a group's slots within its interval, in whole milliseconds, as Prometheus
    computes it (offset in ns = hash % interval; sample timestamps truncate to ms)."""
    encoded = b"file\xff" + file.encode() + b"\xffname\xff" + name.encode() + b"\xff"
    return (xxh64(encoded) % (interval_ms * 1_000_000)) // 1_000_000


@dataclass
class GroupSlots:
    """One group's slots and what became of them."""

    key: str  # "file;name", Prometheus's rule_group label
    interval_ms: int
    offset_ms: int
    next_ms: int | None = None
    scheduled: int = 0
    evaluated: int = 0
    late: int = 0
    missed: int = 0
    failures: int = 0  # rule evaluations that raised (a rule's PromQL error)
    max_lag_s: float = 0.0
    last_duration_s: float = 0.0

    def slot_at_or_before(self, t_ms: int) -> int:
        return t_ms - ((t_ms - self.offset_ms) % self.interval_ms)


@dataclass
class EvaluationSchedule:
    """Which (group, slot) pairs are due, and the count of every slot.

    ``due(now)`` hands out every slot that has come due since the last call, oldest first,
    except those more than ``max_catch_up_s`` old, which are counted as missed.
    ``done(index, slot, started, finished)`` records an evaluation.
    """

    slots: list[GroupSlots]
    max_catch_up_s: float = 30.0

    @classmethod
    def for_groups(cls, groups, max_catch_up_s: float = 30.0) -> EvaluationSchedule:
        """``groups``: RuleGroups (``name``, ``interval`` in s, ``source`` file path as given
        to Prometheus in its config)."""
        slots = []
        for g in groups:
            interval_ms = max(1, int(round(g.interval * 1000)))
            file = str(Path(g.source).resolve()) if g.source else ""  # as PrometheusConfig
            slots.append(GroupSlots(f"{file};{g.name}", interval_ms,
                                    group_offset_ms(g.name, file, interval_ms)))
        return cls(slots, max_catch_up_s)

    def start(self, now: float) -> None:
        """The first slot of each group is its first one after ``now``, as in Prometheus."""
        now_ms = int(now * 1000)
        for s in self.slots:
            s.next_ms = s.slot_at_or_before(now_ms) + s.interval_ms

    def next_due(self) -> float | None:
        pending = [s.next_ms for s in self.slots if s.next_ms is not None]
        return min(pending) / 1000 if pending else None

    def due(self, now: float) -> list[tuple[int, float]]:
        """(group index, slot time in s) for every slot at or before ``now``, oldest first."""
        now_ms = int(now * 1000)
        oldest_ms = now_ms - int(self.max_catch_up_s * 1000)
        out = []
        for index, s in enumerate(self.slots):
            if s.next_ms is None:
                s.next_ms = s.slot_at_or_before(now_ms)
            if s.next_ms > now_ms:
                continue
            count = (now_ms - s.next_ms) // s.interval_ms + 1
            s.scheduled += count
            first_kept = s.next_ms
            if s.next_ms < oldest_ms:
                skipped = (oldest_ms - s.next_ms + s.interval_ms - 1) // s.interval_ms
                s.missed += skipped
                first_kept += skipped * s.interval_ms
            out += [(index, t / 1000) for t in range(first_kept, now_ms + 1, s.interval_ms)]
            s.next_ms += count * s.interval_ms
        out.sort(key=lambda pair: (pair[1], pair[0]))
        return out

    def done(self, index: int, slot: float, started: float, finished: float,
             failures: int = 0) -> None:
        s = self.slots[index]
        s.evaluated += 1
        s.failures += failures
        s.last_duration_s = finished - started
        lag = started - slot
        s.max_lag_s = max(s.max_lag_s, lag)
        if lag > s.interval_ms / 1000:
            s.late += 1

    def totals(self) -> dict:
        """Counts over every group (what the run's slo-status.json publishes)."""
        keys = ("scheduled", "evaluated", "late", "missed", "failures")
        out: dict = {k: sum(getattr(s, k) for s in self.slots) for k in keys}
        out["groups"] = len(self.slots)
        out["max_lag_s"] = round(max((s.max_lag_s for s in self.slots), default=0.0), 3)
        return out

    def render_metrics(self) -> str:
        """Self-metrics in the exposition format, under Prometheus's own names where the
        meaning is the same, so one reader serves both engines."""
        rows = [("prometheus_rule_group_iterations_total", "counter", "scheduled"),
                ("prometheus_rule_group_iterations_missed_total", "counter", "missed"),
                ("prometheus_rule_evaluation_failures_total", "counter", "failures"),
                ("gameday_rule_group_iterations_evaluated_total", "counter", "evaluated"),
                ("gameday_rule_group_iterations_late_total", "counter", "late"),
                ("prometheus_rule_group_last_duration_seconds", "gauge", "last_duration_s")]
        lines = []
        for name, kind, attr in rows:
            lines.append(f"# TYPE {name} {kind}")
            for s in self.slots:
                key = s.key.replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'{name}{{rule_group="{key}"}} {getattr(s, attr)}')
        return "\n".join(lines) + "\n"
