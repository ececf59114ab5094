"""The compact sample store: sealed chunks give back every bit, and a store of sealed
chunks answers every read exactly as the plain list store did (a list model here)."""

import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gameday.engine import ring as ring_module
from gameday.engine.chunks import CACHE, V_CONST, V_INT, V_XOR, seal
from gameday.engine.store import STALE_NAN, SampleStore, is_stale, to_ms


def bits(values) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


SPECIAL = st.sampled_from([math.nan, STALE_NAN, math.inf, -math.inf, -0.0, 0.0,
                           2.0 ** 53, -(2.0 ** 60), 5e-324, 0.1 + 0.2])
VALUE = st.one_of(SPECIAL, st.floats(allow_nan=True, allow_infinity=True),
                  st.integers(-1000, 1000).map(float),
                  st.integers(-10 ** 6, 10 ** 6).map(lambda i: i / 100))


@st.composite
def counters(draw, n):
    """A counter rising by small integer steps, with resets to a small value."""
    v, out = float(draw(st.integers(0, 100))), []
    for _ in range(n):
        v = float(draw(st.integers(0, 3))) if draw(st.integers(0, 20)) == 0 else \
            v + draw(st.integers(0, 4))
        out.append(v)
    return out


@st.composite
def points(draw, max_n=300):
    n = draw(st.integers(1, max_n))
    gaps = draw(st.lists(st.one_of(st.just(1000), st.integers(1, 2_000),
                                   st.integers(1, 2 ** 40)), min_size=n, max_size=n))
    t0 = draw(st.integers(-2 ** 40, 2 ** 40))
    ts = np.cumsum([t0, *gaps[1:]]).tolist()
    kind = draw(st.sampled_from(["any", "counter", "const"]))
    if kind == "counter":
        vs = draw(counters(n))
    elif kind == "const":
        vs = [draw(VALUE)] * n
    else:
        vs = draw(st.lists(VALUE, min_size=n, max_size=n))
    return ts, vs


@settings(max_examples=300, deadline=None)
@given(points())
def test_a_sealed_chunk_gives_back_every_bit(data):
    ts, vs = data
    chunk = seal(np.array(ts, dtype=np.int64), np.array(vs, dtype=np.float64))
    assert chunk.times().tolist() == ts
    assert bits(chunk.values().tolist()) == bits(vs)
    assert (chunk.t0, chunk.t_last, chunk.n) == (ts[0], ts[-1], len(ts))


def test_regular_series_cost_a_byte_a_point_or_less():
    ts = np.arange(512, dtype=np.int64) * 1000 + 1_700_000_000_000
    rng = np.random.default_rng(7)
    cases = {
        "constant gauge": (np.full(512, 3.0), V_CONST, 0.0),
        "counter by small steps": (np.cumsum(rng.integers(0, 6, 512)).astype(float), V_INT,
                                   1.0),
        "cpu seconds (2 decimals)": (np.cumsum(rng.integers(0, 3, 512)) / 100, V_INT, 1.0),
        "noisy floats": (rng.random(512), V_XOR, 8.0),
    }
    for name, (values, kind, most) in cases.items():
        chunk = seal(ts, values)
        assert chunk.tcode == 0, name  # (first, step): nothing per point
        assert chunk.vcode & 0x3 == kind, name
        assert chunk.nbytes() / 512 <= most, (name, chunk.nbytes())


def test_scrape_jitter_costs_a_byte_a_point():
    rng = np.random.default_rng(3)
    ts = np.arange(512, dtype=np.int64) * 1000 + rng.integers(0, 40, 512)
    chunk = seal(ts, np.full(512, 1.0))
    assert chunk.times().tolist() == ts.tolist()
    assert chunk.nbytes() <= 8 + 512


# -- the store against a plain list model ------------------------------------------------
class ListModel:
    """What the list store did: every point kept in order, dropped by count and age."""

    def __init__(self, max_age_ms: int, max_points: int, lookback_ms: int) -> None:
        self.pts: list[tuple[int, float]] = []
        self.max_age_ms, self.max_points, self.lookback_ms = max_age_ms, max_points, lookback_ms

    def append(self, ts: int, value: float) -> None:
        if self.pts and ts <= self.pts[-1][0]:
            if ts == self.pts[-1][0]:
                self.pts[-1] = (ts, value)
            return
        self.pts.append((ts, value))
        self.pts = self.pts[-self.max_points:]
        self.prune(ts)

    def prune(self, now_ms: int) -> None:
        self.pts = [p for p in self.pts if p[0] >= now_ms - self.max_age_ms]

    def instant(self, t: int):
        before = [p for p in self.pts if p[0] <= t]
        if not before or before[-1][0] < t - self.lookback_ms or is_stale(before[-1][1]):
            return None
        return before[-1][1]

    def window(self, start: int, end: int):
        return [p for p in self.pts if start <= p[0] <= end and not is_stale(p[1])]


def same(a, b) -> bool:
    return [(t, struct.pack("<d", v)) for t, v in a] == [(t, struct.pack("<d", v)) for t, v in b]


@st.composite
def appends(draw):
    n = draw(st.integers(1, 120))
    t, out = draw(st.integers(0, 10 ** 6)), []
    for _ in range(n):
        t += draw(st.one_of(st.just(1000), st.integers(-1500, 3000)))
        out.append((t, draw(st.one_of(VALUE, st.integers(0, 50).map(float)))))
    return out


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # a constant: safe
@given(appends(), st.integers(3, 200), st.integers(1, 200), st.integers(1, 600),
       st.lists(st.tuples(st.integers(-2000, 4000), st.integers(0, 200_000)), max_size=8))
def test_reads_across_chunks_equal_the_list_store(monkeypatch_chunk, ops, max_points, age_s,
                                                  lookback_s, probes):
    store = SampleStore(max_age=age_s, max_points=max_points, lookback=lookback_s)
    model = ListModel(age_s * 1000, max_points, lookback_s * 1000)
    for t, v in ops:
        store.append({"__name__": "x"}, t / 1000, v)
        model.append(t, v)
    (_, ring), = store.series([])
    assert len(ring) == len(model.pts)
    assert same(list(ring), model.pts)
    assert same([ring[i] for i in range(-len(ring), len(ring))], model.pts * 2)
    assert ring.ts[-1] == model.pts[-1][0]
    first = model.pts[0][0]
    for offset, width in probes:
        t = first + offset * 37
        got, want = store.instant(ring, t), model.instant(t)
        assert (got is None and want is None) or bits([got]) == bits([want]), (t, got, want)
        assert same(store.window(ring, t, t + width), model.window(t, t + width))
        cols = store.window_columns(ring, t, t + width)
        assert same(zip(*cols, strict=True), model.window(t, t + width))
    now = model.pts[-1][0] + 1000 * age_s // 2
    store.prune(now / 1000)
    model.prune(now)
    if model.pts:
        (_, ring), = store.series([])
        assert same(list(ring), model.pts)
        assert same(store.window(ring, -1, 10 ** 12), model.window(-1, 10 ** 12))
    else:
        assert len(store) == 0


@pytest.fixture
def monkeypatch_chunk(monkeypatch):
    """Chunks of 8 points, so that a short series crosses many chunk boundaries."""
    monkeypatch.setattr(ring_module, "CHUNK_POINTS", 8)
    CACHE.clear()
    yield
    CACHE.clear()


def test_pruning_drops_whole_sealed_chunks_and_cuts_inside_one(monkeypatch_chunk):
    store = SampleStore(max_age=100.0)
    for t in range(50):
        store.append({"__name__": "c"}, float(t), float(t * 2))
    (_, ring), = store.series([])
    assert len(ring.sealed) == 6
    store.prune(119.0)  # keeps t >= 19 (the cutoff is inclusive, as before)
    assert ring[0] == (19_000, 38.0) and len(ring) == 31
    assert len(ring.sealed) == 4 and ring.head == 3  # chunks from t=16, 24, 32, 40
    assert store.window(ring, 0, 20_000) == [(19_000, 38.0), (20_000, 40.0)]
    assert store.instant(ring, to_ms(18.5)) is None
    assert store.instant(ring, to_ms(19.5)) == 38.0


def test_stale_markers_and_resets_survive_sealing(monkeypatch_chunk):
    store = SampleStore()
    values = [1, 2, 3, 0, 1, STALE_NAN, 4, 5, 6, -0.0, math.inf, 7, 8, 9, 10, 11, 12]
    for t, v in enumerate(values):
        store.append({"__name__": "c"}, float(t), float(v))
    (_, ring), = store.series([])
    assert ring.sealed and ring.has_stale
    assert is_stale(ring[5][1]) and not is_stale(math.nan)
    assert store.instant(ring, 5000) is None
    assert store.instant(ring, 4999) == 1.0
    window = store.window(ring, 0, 20_000)
    assert [t for t, _ in window] == [t * 1000 for t in range(17) if t != 5]
    assert bits([window[8][1]]) == bits([-0.0])


def test_the_decoded_cache_stays_bounded(monkeypatch_chunk, monkeypatch):
    monkeypatch.setattr(CACHE, "max_points", 64)
    store = SampleStore()
    for t in range(2000):
        store.append({"__name__": "a"}, float(t), float(t % 7))
        store.append({"__name__": "b"}, float(t), float(t))
    for _, ring in store.series([]):
        assert len(store.window(ring, 0, 2_000_000)) == 2000
    assert CACHE.points <= 64


def test_series_scraped_together_share_one_copy_of_their_times(monkeypatch_chunk):
    store = SampleStore()
    for t in range(20):
        jittered = t + (0.003 * (t % 3))
        store.append({"__name__": "a"}, jittered, float(t))
        store.append({"__name__": "b"}, jittered, 1.5)
    (_, a), (_, b) = store.series([])
    assert len(a.sealed) == 2 and isinstance(a.sealed[0].tdata, bytes)
    assert all(x.tdata is y.tdata for x, y in zip(a.sealed, b.sealed, strict=True))
    assert store.window(b, 0, 30_000) == [(to_ms(t + 0.003 * (t % 3)), 1.5) for t in range(20)]
