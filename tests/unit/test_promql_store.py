import pytest

from gameday.engine.exposition import Sample
from gameday.engine.store import (
    SampleStore,
    expand_values,
    is_stale,
    load_series,
    parse_series_selector,
    to_ms,
)
from gameday.errors import ValidationError


def latest(store, name, t):
    (key, ring), = store.series([("__name__", "=", name)])
    return store.instant(ring, to_ms(t))


def test_instant_value_within_lookback_only():
    store = SampleStore()
    store.append({"__name__": "up", "job": "a"}, 10.0, 1.0)
    assert latest(store, "up", 10.0) == 1.0
    assert latest(store, "up", 310.0) == 1.0  # lookback is inclusive
    assert latest(store, "up", 310.001) is None
    assert latest(store, "up", 9.999) is None


def test_lookback_is_configurable_for_compressed_drills():
    store = SampleStore(lookback=5.0)
    store.append({"__name__": "up"}, 0.0, 1.0)
    assert latest(store, "up", 5.0) == 1.0
    assert latest(store, "up", 6.0) is None


def test_ingest_adds_job_and_instance_and_marks_missing_series_stale():
    store = SampleStore()
    scrape = [Sample("req_total", (("code", "200"),), 3.0), Sample("up_x", (), 1.0)]
    assert store.ingest(scrape, 1.0, job="gw", instance="127.0.0.1:8000") == 2
    (key, _), = store.series([("__name__", "=", "req_total")])
    assert dict(key) == {"__name__": "req_total", "code": "200", "job": "gw",
                         "instance": "127.0.0.1:8000"}
    store.ingest(scrape[:1], 2.0, job="gw", instance="127.0.0.1:8000")
    assert latest(store, "up_x", 2.0) is None
    assert latest(store, "up_x", 1.5) == 1.0
    store.mark_target_down("gw", "127.0.0.1:8000", 3.0)
    assert latest(store, "req_total", 3.0) is None


def test_rings_are_bounded_by_points_and_age():
    store = SampleStore(max_age=10.0, max_points=5)
    for t in range(20):
        store.append({"__name__": "g"}, float(t), float(t))
    (_, ring), = store.series([("__name__", "=", "g")])
    assert [v for _, v in ring] == [15.0, 16.0, 17.0, 18.0, 19.0]
    store = SampleStore(max_age=10.0)
    for t in range(20):
        store.append({"__name__": "g"}, float(t), float(t))
    (_, ring), = store.series([("__name__", "=", "g")])
    assert ring[0] == (9000, 9.0)
    store.prune(100.0)
    assert len(store) == 0


def test_out_of_order_samples_are_dropped_and_same_timestamp_overwrites():
    store = SampleStore()
    store.append({"__name__": "g"}, 2.0, 1.0)
    store.append({"__name__": "g"}, 1.0, 5.0)
    store.append({"__name__": "g"}, 2.0, 7.0)
    (_, ring), = store.series([("__name__", "=", "g")])
    assert list(ring) == [(2000, 7.0)]


def test_window_is_closed_at_both_ends_and_skips_stale_markers():
    store = SampleStore()
    load_series(store, [("c", "1 2 stale 4 5")], step=10.0)
    (_, ring), = store.series([("__name__", "=", "c")])
    assert store.window(ring, 0, 30_000) == [(0, 1.0), (10_000, 2.0), (30_000, 4.0)]


def test_expand_values_like_promtool():
    assert expand_values("0+10x3") == [0.0, 10.0, 20.0, 30.0]
    assert expand_values("5-1x2 _ _x2 7x1") == [5.0, 4.0, 3.0, None, None, None, 7.0, 7.0]
    assert expand_values("1e-3+1e-3x1 -2") == [0.001, 0.002, -2.0]
    assert expand_values("0.1+0.7x2")[2] == 0.1 + 0.7 + 0.7  # cumulative, as promtool
    values = expand_values("1 stale")
    assert is_stale(values[1]) and not is_stale(float("nan"))


def test_bad_series_text_is_refused_with_the_term():
    with pytest.raises(ValidationError, match="cannot read term '1\\+x3' in '0 1\\+x3'"):
        expand_values("0 1+x3")
    with pytest.raises(ValidationError, match="expected a metric name"):
        parse_series_selector("rate(x[5m])")


def test_load_series_replays_at_the_given_step():
    store = SampleStore()
    load_series(store, [('req_total{code="500"}', "0+1x3")], start=100.0, step=2.0)
    (key, ring), = store.series([("code", "=", "500")])
    assert dict(key) == {"__name__": "req_total", "code": "500"}
    assert list(ring) == [(100_000, 0.0), (102_000, 1.0), (104_000, 2.0), (106_000, 3.0)]


def test_a_scraped_label_a_target_label_would_overwrite_is_kept_as_exported():
    """As Prometheus does (honor_labels: false): both engines see the same series."""
    from gameday.engine.scraper import with_target_labels

    merged = dict(with_target_labels((("replica", "http://x:1"), ("upstream", "c")),
                                     (("replica", "0"),)))
    assert merged == {"replica": "0", "exported_replica": "http://x:1", "upstream": "c"}
    assert dict(with_target_labels((("replica", "0"),), (("replica", "0"),))) == {"replica": "0"}
