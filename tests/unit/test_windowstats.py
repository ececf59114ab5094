"""Range functions without reading windows point by point give the same bits as reading them."""

import math
import random

import pytest

from gameday.engine import promql_functions as fn
from gameday.engine import windowstats
from gameday.engine.ring import CHUNK_POINTS, STALE_NAN, is_stale
from gameday.engine.store import SampleStore


def _reference(name, ring, start, end, range_s):
    ts, vs = SampleStore.window_columns(ring, start, end)
    if name in fn.RATE_LIKE:
        counter, is_rate = fn.RATE_LIKE[name]
        return fn.extrapolated_rate(ts, vs, start, end, range_s, counter, is_rate)
    return fn.OVER_TIME[name](vs) if vs else None


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _fill(store, key, rng, points, stale_share, reset_share, same_ts_share):
    t, v = 1_000.0, 0.0
    for _ in range(points):
        r = rng.random()
        if r < stale_share:
            store.append(key, t, STALE_NAN)
        else:
            v = rng.uniform(0, 5) if rng.random() < reset_share else v + rng.choice(
                [0.0, 1.0, 0.25, rng.random()])
            store.append(key, t, v)
        if rng.random() < same_ts_share:  # the same time again: replace_last
            store.append(key, t, v + 1)
        t += rng.choice([15.0, 15.0, 15.0, 14.9, 30.0])


@pytest.mark.parametrize("seed", range(12))
def test_window_functions_equal_reading_the_whole_window(seed):
    rng = random.Random(seed)
    store = SampleStore(max_age=rng.choice([2_000.0, 50_000.0]), max_points=rng.choice(
        [700, 20_000]))
    key = (("__name__", "x_total"),)
    _fill(store, key, rng, 3 * CHUNK_POINTS + rng.randrange(300), rng.choice([0, 0.02, 0.3]),
          rng.choice([0, 0.01, 0.2]), rng.choice([0, 0.05]))
    ring = next(iter(store.series([("__name__", "=", "x_total")])))[1]
    last = ring.last_ts
    for name in ("rate", "increase", "delta", "count_over_time", "sum_over_time",
                 "avg_over_time"):
        for range_s in (60.0, 300.0, 3600.0, 30 * 86400.0):
            # an evaluation every 15 s over the last 2,000 s: memos extended and restarted
            for end in range(last - 2_000_000, last + 30_000, 15_000):
                start = end - int(range_s * 1000)
                if name in fn.RATE_LIKE:
                    counter, is_rate = fn.RATE_LIKE[name]
                    got = windowstats.rate(ring, start, end, range_s, counter, is_rate)
                else:
                    got = windowstats.over_time(name, ring, start, end)
                want = _reference(name, ring, start, end, range_s)
                assert _same(got, want), (name, range_s, end, got, want)


def test_indexes_follow_drops_and_replacements():
    store = SampleStore(max_age=100.0, max_points=1_000)
    key = (("__name__", "c_total"),)
    for i in range(2_000):
        store.append(key, float(i), float(i % 700))  # resets every 700 s
        if i % 97 == 0:
            store.append(key, float(i), STALE_NAN)  # replaced by a stale marker
    ring = next(iter(store.series([("__name__", "=", "c_total")])))[1]
    assert ring.dropped + len(ring) == 2_000
    assert all(p >= ring.dropped for p in ring.stale_at)
    assert [ring.dropped + k for k, (_, v) in enumerate(ring) if is_stale(v)] == \
        list(ring.stale_at)
    assert ring.index_left(1_950_000) == len(ring) - 50
    assert ring.index_right(1_950_000) == len(ring) - 49
