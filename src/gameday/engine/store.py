"""A bounded in-memory sample store with Prometheus-like staleness.

Series are keyed by their full label set (``__name__`` included) and hold a ring of
(timestamp in milliseconds, value) points, kept compactly (ring.py, chunks.py). Times
enter and leave the API as float seconds; they are kept as integer milliseconds, as
Prometheus does, so that window edges compare exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from gameday.engine.exposition import Sample
from gameday.engine.ring import STALE_NAN, Ring, is_stale
from gameday.errors import ValidationError

__all__ = ["DEFAULT_LOOKBACK", "STALE_NAN", "Labels", "Ring", "SampleStore", "expand_values",
           "is_stale", "load_series", "make_labels", "parse_series_selector", "to_ms"]

Labels = tuple[tuple[str, str], ...]
DEFAULT_LOOKBACK = 300.0
SELECTED_CACHE = 1024  # matcher lists whose series are remembered


def to_ms(t: float) -> int:
    return int(round(t * 1000))


def make_labels(labels: dict[str, str] | Iterable[tuple[str, str]]) -> Labels:
    items = labels.items() if isinstance(labels, dict) else labels
    return tuple(sorted((k, v) for k, v in items if v != ""))


class SampleStore:
    """Series by label set, each a ring bounded by ``max_age`` seconds and ``max_points``."""

    def __init__(self, max_age: float = 3 * 3600.0, max_points: int = 20_000,
                 lookback: float = DEFAULT_LOOKBACK) -> None:
        self.max_age_ms = to_ms(max_age)
        self.max_points = max_points
        self.lookback = lookback
        self._by_name: dict[str, dict[Labels, Ring]] = {}
        self._last_scrape: dict[tuple[str, str], set[Labels]] = {}
        # series() answers by matchers, valid while no series is added or removed
        self._generation = 0
        self._selected: dict[tuple, tuple[int, list[tuple[Labels, Ring]]]] = {}

    # -- writing -------------------------------------------------------------------
    def append(self, labels: Labels | dict[str, str], t: float, value: float) -> None:
        key = labels if isinstance(labels, tuple) else make_labels(labels)
        # label sets are sorted: __name__ comes first unless a label name sorts before it
        name = key[0][1] if key and key[0][0] == "__name__" else dict(key).get("__name__", "")
        ring = self._by_name.setdefault(name, {}).get(key)
        if ring is None:
            ring = self._by_name[name][key] = Ring(self.max_points)
            self._generation += 1
        ts = to_ms(t)
        if ring.count and ts <= ring.last_ts:
            if ts == ring.last_ts:
                ring.replace_last(value)
            return  # out of order: dropped, as Prometheus does
        ring.append(ts, value)
        if ring.first_ts < ts - self.max_age_ms:
            ring.drop_before(ts - self.max_age_ms)

    def mark_stale(self, labels: Labels, t: float) -> None:
        self.append(labels, t, STALE_NAN)

    def ingest(self, samples: Iterable[Sample], t: float, job: str, instance: str) -> int:
        """Append one scrape; series the target stopped exposing get a stale marker."""
        seen: set[Labels] = set()
        for s in samples:
            extra = [("__name__", s.name), ("job", job), ("instance", instance)]
            key = make_labels([*s.labels, *extra])
            seen.add(key)
            self.append(key, t, s.value)
        for gone in self._last_scrape.get((job, instance), set()) - seen:
            self.mark_stale(gone, t)
        self._last_scrape[(job, instance)] = seen
        return len(seen)

    def mark_target_down(self, job: str, instance: str, t: float) -> None:
        """A failed scrape: every series of the target goes stale."""
        for gone in self._last_scrape.pop((job, instance), set()):
            self.mark_stale(gone, t)

    def prune(self, now: float) -> None:
        """Forget points older than ``max_age`` and series left empty."""
        cutoff = to_ms(now) - self.max_age_ms
        for name in list(self._by_name):
            group = self._by_name[name]
            for key in list(group):
                ring = group[key]
                ring.drop_before(cutoff)
                if not ring:
                    del group[key]
                    self._generation += 1
            if not group:
                del self._by_name[name]

    # -- reading -------------------------------------------------------------------
    def series(self, matchers: list[tuple[str, str, str]]) -> Iterator[tuple[Labels, Ring]]:
        """Series matching ``(label, op, value)`` matchers, op one of = != =~ !~, sorted."""
        generation, cache_key = self._generation, tuple(matchers)
        hit = self._selected.get(cache_key)
        if hit is not None and hit[0] == generation:
            return iter(hit[1])
        compiled = [(k, op, re.compile(v) if op in ("=~", "!~") else v)
                    for k, op, v in matchers]
        names = [v for k, op, v in matchers if k == "__name__" and op == "="]
        groups = [self._by_name.get(names[0], {})] if names else list(self._by_name.values())
        found = []
        for group in groups:
            for key, ring in group.items():
                if _matches(dict(key), compiled):
                    found.append((key, ring))
        found.sort(key=lambda item: item[0])
        if len(self._selected) >= SELECTED_CACHE:
            self._selected.clear()
        self._selected[cache_key] = (generation, found)
        return iter(found)

    def instant(self, ring: Ring, t_ms: int) -> float | None:
        """Latest value at or before ``t_ms`` within the lookback delta, None if stale."""
        point = ring.at_or_before(t_ms)
        if point is None or point[0] < t_ms - to_ms(self.lookback):
            return None
        value = point[1]
        return None if value != value and is_stale(value) else value

    @staticmethod
    def window(ring: Ring, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        """Points with start <= t <= end (Prometheus 2.x bounds), stale markers dropped."""
        return list(zip(*SampleStore.window_columns(ring, start_ms, end_ms), strict=True))

    @staticmethod
    def window_columns(ring: Ring, start_ms: int, end_ms: int) -> tuple[list[int], list[float]]:
        """The same points as ``window`` as two lists (times, values): no tuple per point,
        which is most of the cost of a long ``rate()`` window."""
        ts, vs = ring.columns(start_ms, end_ms)
        if not ring.has_stale:
            return ts, vs
        keep = [k for k, v in enumerate(vs) if v == v or not is_stale(v)]
        return [ts[k] for k in keep], [vs[k] for k in keep]

    def __len__(self) -> int:
        return sum(len(group) for group in self._by_name.values())


def _matches(labels: dict[str, str], compiled: list) -> bool:
    for key, op, want in compiled:
        have = labels.get(key, "")
        if op == "=" and have != want:
            return False
        if op == "!=" and have == want:
            return False
        if op == "=~" and not want.fullmatch(have):
            return False
        if op == "!~" and want.fullmatch(have):
            return False
    return True


# -- replaying series written in promtool's notation ---------------------------------
_NUM = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TERM = re.compile(rf"^([-+]?{_NUM})(?:([-+])({_NUM}))?x(\d+)$")


def expand_values(text: str) -> list[float | None]:
    """promtool's ``input_series`` values: ``0+10x3 _ stale 5 _x2`` (None = no sample)."""
    out: list[float | None] = []
    for term in text.split():
        if term == "_":
            out.append(None)
        elif term == "stale":
            out.append(STALE_NAN)
        elif term.startswith("_x"):
            out.extend([None] * int(term[2:]))
        elif "x" in term:
            match = _TERM.match(term)
            if not match:
                raise ValidationError(f"series values: cannot read term {term!r} in {text!r}")
            start = float(match.group(1))
            step = float(match.group(3) or 0) * (-1 if match.group(2) == "-" else 1)
            for _ in range(int(match.group(4)) + 1):  # cumulative, as promtool adds
                out.append(start)
                start += step
        else:
            try:
                out.append(float(term))
            except ValueError:
                raise ValidationError(
                    f"series values: cannot read term {term!r} in {text!r}") from None
    return out


def parse_series_selector(text: str) -> Labels:
    """``name{a="b"}`` into a label set (equality matchers only)."""
    import promql_parser

    try:
        node = promql_parser.parse(text)
    except Exception as exc:
        raise ValidationError(f"series {text!r}: {exc}") from None
    if not isinstance(node, promql_parser.VectorSelector):
        raise ValidationError(f"series {text!r}: expected a metric name with labels")
    labels = {m.name: m.value for m in node.matchers.matchers
              if str(m.op) == "MatchOp.Equal"}
    if node.name:
        labels["__name__"] = node.name
    return make_labels(labels)


def load_series(store: SampleStore, series: Iterable[tuple[str, str]],
                start: float = 0.0, step: float = 1.0) -> None:
    """Replay ``(selector, values)`` pairs into ``store``: value i lands at start + i*step."""
    for selector, values in series:
        key = parse_series_selector(selector)
        for i, value in enumerate(expand_values(values)):
            if value is not None:
                store.append(key, start + i * step, value)
