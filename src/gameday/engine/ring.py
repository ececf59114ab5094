"""One series' points, oldest first: sealed chunks (compact, see chunks.py) and an open one.

Points arrive in time order. The newest ``CHUNK_POINTS`` at most sit in the open chunk,
two typed arrays (int64 ms, float64), where appends and ``replace_last`` are cheap; when
it is full it is sealed and a new one opened. Dropping the oldest points (``max_points``,
``drop_before``) removes whole sealed chunks and moves ``head`` inside the first one.

For long windows read at every evaluation (``rate(x[3d])`` each 15 s), a ring also keeps,
as points arrive, the absolute positions (points ever appended, ``dropped`` + index) of
its stale markers and of its counter resets (a value below the previous non-stale one,
with that previous value), and ``memo``, running sums that windowstats.py extends when a
window only grew. A window's first and last points are then found by binary search, and
nothing in between is read again.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

import numpy as np

from gameday.engine.chunks import CACHE, SealedChunk, seal

CHUNK_POINTS = 512

# Prometheus's stale marker: a NaN with a specific bit pattern.
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
_STALE_BITS = struct.pack("<d", STALE_NAN)


def is_stale(value: float) -> bool:
    return value != value and struct.pack("<d", value) == _STALE_BITS


def _t0(chunk: SealedChunk) -> int:
    return chunk.t0


class Ring:
    """A series' points, searchable by time; ``len``, iteration and indexing give
    ``(ts_ms, value)`` pairs as a list of pairs would."""

    __slots__ = ("sealed", "head", "first_ts", "ots", "ovs", "count", "max_points",
                 "has_stale", "dropped", "stale_at", "reset_at", "reset_prev", "last_ns",
                 "ns_before_last", "memo")

    def __init__(self, max_points: int) -> None:
        self.sealed: list[SealedChunk] = []
        self.head = 0  # points of sealed[0] already dropped
        self.first_ts = 0  # time of the oldest kept point (valid when count > 0)
        self.ots = array("q")
        self.ovs = array("d")
        self.count = 0
        self.max_points = max_points
        self.has_stale = False  # sticky: lets window reads skip the per-point stale check
        self.dropped = 0  # points forgotten so far: absolute position = dropped + index
        self.stale_at = array("q")  # absolute positions of stale markers
        self.reset_at = array("q")  # absolute positions of counter resets ...
        self.reset_prev = array("d")  # ... and the non-stale value before each
        self.last_ns: float | None = None  # the newest non-stale value
        self.ns_before_last: float | None = None  # last_ns before the newest point came
        self.memo: dict | None = None  # windowstats' running sums, cleared on replace_last

    # -- reading as a sequence -------------------------------------------------------------
    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[int, float]]:
        sealed, head, ots, ovs = list(self.sealed), self.head, self.ots.tolist(), self.ovs.tolist()
        for k, chunk in enumerate(sealed):
            skip = head if k == 0 else 0
            yield from zip(chunk.times()[skip:].tolist(), chunk.values()[skip:].tolist(),
                           strict=True)
        yield from zip(ots, ovs, strict=True)

    def __getitem__(self, index: int) -> tuple[int, float]:
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(index)
        in_open = index - (self.count - len(self.ots))
        if in_open >= 0:  # the newest points: no chunk to walk
            return self.ots[in_open], self.ovs[in_open]
        index += self.head
        for chunk in self.sealed:
            if index < chunk.n:
                ts, vs = CACHE.get(chunk)
                return ts[index], vs[index]
            index -= chunk.n
        return self.ots[index], self.ovs[index]

    @property
    def ts(self) -> _Column:
        """The times, oldest first, as a read-only sequence (``ring.ts[-1]``)."""
        return _Column(self, 0)

    @property
    def vs(self) -> _Column:
        return _Column(self, 1)

    @property
    def last_ts(self) -> int:
        return self.ots[-1]

    # -- writing ---------------------------------------------------------------------------
    def append(self, ts: int, value: float) -> None:
        self.ns_before_last = self.last_ns
        self._note(self.dropped + self.count, value)
        if len(self.ots) >= CHUNK_POINTS:
            self.sealed.append(seal(np.frombuffer(self.ots, dtype=np.int64),
                                    np.frombuffer(self.ovs, dtype=np.float64)))
            self.ots, self.ovs = array("q"), array("d")
        if not self.count:
            self.first_ts = ts
        self.ots.append(ts)
        self.ovs.append(value)
        self.count += 1
        if self.count > self.max_points:
            self._drop_first(self.count - self.max_points)

    def _note(self, position: int, value: float) -> None:
        """Index the point at absolute ``position``: stale marker, reset, or neither."""
        if value != value and is_stale(value):
            self.has_stale = True
            self.stale_at.append(position)
            return
        if self.last_ns is not None and value < self.last_ns:
            self.reset_at.append(position)
            self.reset_prev.append(self.last_ns)
        self.last_ns = value

    def replace_last(self, value: float) -> None:
        position = self.dropped + self.count - 1
        if self.stale_at and self.stale_at[-1] == position:
            self.stale_at.pop()
        if self.reset_at and self.reset_at[-1] == position:
            self.reset_at.pop()
            self.reset_prev.pop()
        self.last_ns = self.ns_before_last
        self._note(position, value)
        self.memo = None
        self.ovs[-1] = value

    def drop_before(self, cutoff: int) -> None:
        """Forget the points older than ``cutoff`` (ms)."""
        if not self.count or self.first_ts >= cutoff:
            return
        dropped = 0
        for k, chunk in enumerate(self.sealed):
            skip = self.head if k == 0 else 0
            if chunk.t_last < cutoff:
                dropped += chunk.n - skip
                continue
            dropped += int(np.searchsorted(chunk.times(), cutoff, "left")) - skip
            break
        else:
            dropped += bisect_left(self.ots, cutoff)
        self._drop_first(dropped)

    def _drop_first(self, n: int) -> None:
        self.count -= n
        self.dropped += n
        for positions, extra in ((self.stale_at, None), (self.reset_at, self.reset_prev)):
            gone = bisect_left(positions, self.dropped)
            if gone:
                del positions[:gone]
                if extra is not None:
                    del extra[:gone]
        n += self.head
        while self.sealed and n >= self.sealed[0].n:
            n -= self.sealed.pop(0).n
        if self.sealed:
            self.head = n
            self.first_ts = int(self.sealed[0].times()[n]) if n else self.sealed[0].t0
            return
        self.head = 0
        if n:
            del self.ots[:n]
            del self.ovs[:n]
        if self.ots:
            self.first_ts = self.ots[0]

    # -- reading by time -------------------------------------------------------------------
    def at_or_before(self, t_ms: int) -> tuple[int, float] | None:
        """The newest point at or before ``t_ms``, None if there is none."""
        if not self.count or t_ms < self.first_ts:
            return None
        if t_ms >= self.ots[0]:
            i = bisect_right(self.ots, t_ms) - 1
            return self.ots[i], self.ovs[i]
        k = bisect_right(self.sealed, t_ms, key=_t0) - 1
        ts, vs = CACHE.get(self.sealed[k])
        i = bisect_right(ts, t_ms) - 1
        return ts[i], vs[i]

    def columns(self, start_ms: int, end_ms: int) -> tuple[list[int], list[float]]:
        """Times and values of the points with start <= t <= end, stale markers kept."""
        out_ts: list[int] = []
        out_vs: list[float] = []
        if not self.count or end_ms < self.first_ts or start_ms > self.ots[-1]:
            return out_ts, out_vs
        sealed = self.sealed
        if sealed and start_ms <= sealed[-1].t_last:
            k = max(0, bisect_right(sealed, start_ms, key=_t0) - 1)
            for n, chunk in enumerate(sealed[k:], start=k):
                if chunk.t0 > end_ms:
                    break
                ts, vs = CACHE.get(chunk)
                lo = self.head if n == 0 else 0
                if start_ms <= chunk.t0 and chunk.t_last <= end_ms and not lo:
                    out_ts += ts
                    out_vs += vs
                    continue
                i = bisect_left(ts, start_ms, lo)
                j = bisect_right(ts, end_ms, i)
                out_ts += ts[i:j]
                out_vs += vs[i:j]
        if end_ms >= self.ots[0]:
            i = bisect_left(self.ots, start_ms)
            j = bisect_right(self.ots, end_ms, i)
            out_ts += self.ots[i:j].tolist()
            out_vs += self.ovs[i:j].tolist()
        return out_ts, out_vs

    def index_left(self, t_ms: int) -> int:
        """Index of the first point at or after ``t_ms`` (``len`` if there is none)."""
        return self._index(t_ms, bisect_left)

    def index_right(self, t_ms: int) -> int:
        """Index of the first point after ``t_ms`` (``len`` if there is none)."""
        return self._index(t_ms, bisect_right)

    def _index(self, t_ms: int, search) -> int:
        open_start = self.count - len(self.ots)
        if not self.count or (self.ots and t_ms >= self.ots[0]):
            return open_start + search(self.ots, t_ms)
        offset = -self.head
        for k, chunk in enumerate(self.sealed):
            if chunk.t_last >= t_ms:
                ts, _ = CACHE.get(chunk)
                return offset + search(ts, t_ms, self.head if k == 0 else 0)
            offset += chunk.n
        return open_start

    def footprint(self) -> dict[str, int]:
        """Points and payload bytes, sealed and open (the objects around them not counted)."""
        return {"sealed_points": sum(c.n for c in self.sealed) - self.head,
                "sealed_bytes": sum(c.nbytes() for c in self.sealed),
                "open_points": len(self.ots), "open_bytes": 16 * len(self.ots)}


class _Column:
    """``ring.ts`` / ``ring.vs``: one column of a ring as a read-only sequence."""

    __slots__ = ("ring", "which")

    def __init__(self, ring: Ring, which: int) -> None:
        self.ring, self.which = ring, which

    def __len__(self) -> int:
        return len(self.ring)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [p[self.which] for p in self.ring][index]
        return self.ring[index][self.which]

    def __iter__(self):
        return (p[self.which] for p in self.ring)
