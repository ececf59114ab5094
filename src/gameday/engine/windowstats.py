"""Range functions over one series' window without reading the window point by point.

Rules read long windows at every evaluation: ``rate(x[3d])`` every 15 s over a day of data
would read every point again each time, and a backtest's time would grow with the square
of its length. Here a window is found by binary search on the ring's times, and:

- rate/increase/delta need the window's first and last non-stale points, how many
  non-stale points it holds, and (counters) the values before each reset inside it: the
  ring indexes its stale markers and resets as points arrive (ring.py), so these are a few
  binary searches. The reset corrections are added in time order, as Prometheus does, so
  results are the same to the last bit as reading the whole window.
- count_over_time: the point count minus the stale markers in the window.
- sum_over_time and avg_over_time: Prometheus's compensated running sums, kept per ring
  and window size (``ring.memo``) and extended by the new points while the window's first
  point stays the same (a window longer than the data so far: ``[30d]`` over a day). The
  same additions in the same order: bit-for-bit equal. When the first point moves, the
  window is summed again.

Other functions (max/min/last_over_time) read the window as before (``window_columns``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from gameday.engine import promql_functions as fn
from gameday.engine.ring import Ring
from gameday.engine.store import SampleStore

INCREMENTAL = {"count_over_time", "sum_over_time", "avg_over_time"}


def _bounds(ring: Ring, start_ms: int, end_ms: int) -> tuple[int, int, int]:
    """(first, last, non-stale count) of the window's non-stale points, by index."""
    i, j = ring.index_left(start_ms), ring.index_right(end_ms) - 1
    if i > j:
        return i, j, 0
    if not ring.has_stale:
        return i, j, j - i + 1
    stale, base = ring.stale_at, ring.dropped
    lo, hi = bisect_left(stale, base + i), bisect_right(stale, base + j)
    n = j - i + 1 - (hi - lo)
    if n <= 0:
        return i, j, 0
    k = lo
    while k < hi and stale[k] == base + i:  # stale markers at the window's start
        i, k = i + 1, k + 1
    k = hi - 1
    while k >= lo and stale[k] == base + j:  # ... and at its end
        j, k = j - 1, k - 1
    return i, j, n


def rate(ring: Ring, start_ms: int, end_ms: int, range_s: float, is_counter: bool,
         is_rate: bool) -> float | None:
    """rate/increase/delta of the points with start <= t <= end, as extrapolated_rate."""
    i, j, n = _bounds(ring, start_ms, end_ms)
    if n < 2:
        return None
    first_t, first_v = ring[i]
    last_t, last_v = ring[j]
    result = last_v - first_v
    if is_counter and ring.reset_at:
        base = ring.dropped
        lo = bisect_right(ring.reset_at, base + i)
        hi = bisect_right(ring.reset_at, base + j, lo)
        for k in range(lo, hi):
            result += ring.reset_prev[k]
    return fn.extrapolate(result, first_t, first_v, last_t, n, start_ms, end_ms, range_s,
                          is_counter, is_rate)


def over_time(name: str, ring: Ring, start_ms: int, end_ms: int) -> float | None:
    """count/sum/avg_over_time of the window, None when it holds no point."""
    i, j, n = _bounds(ring, start_ms, end_ms)
    if n == 0:
        return None
    if name == "count_over_time":
        return float(n)
    key = (name, end_ms - start_ms)
    memo = ring.memo.get(key) if ring.memo else None
    first = ring.dropped + i
    last_t = ring[j][0]
    if memo is not None and memo[0] == first and memo[1] <= last_t:
        _, done_t, state = memo
        _, values = SampleStore.window_columns(ring, done_t + 1, last_t)
    else:
        state = (0.0, 0.0, 0.0)
        _, values = SampleStore.window_columns(ring, start_ms, end_ms)
    if name == "sum_over_time":
        state = fn.sum_over_time_step(state, values)
        value = fn.sum_over_time_value(state)
    else:
        state = fn.avg_over_time_step(state, values)
        value = fn.avg_over_time_value(state)
    if ring.memo is None:
        ring.memo = {}
    ring.memo[key] = (first, last_t, state)
    return value


def is_incremental(name: str) -> bool:
    return name in fn.RATE_LIKE or name in INCREMENTAL


__all__ = ["INCREMENTAL", "is_incremental", "over_time", "rate"]
