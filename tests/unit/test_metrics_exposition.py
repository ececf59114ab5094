import math

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gameday.engine.exposition import histogram_quantile, parse, quantile, total


def test_parse_keeps_types_and_labels():
    reg = CollectorRegistry()
    c = Counter("things", "x", ["kind"], registry=reg)
    c.labels("a").inc(2)
    c.labels("b").inc(3)
    samples, types = parse(generate_latest(reg).decode())
    assert types["things"] == "counter"
    assert total(samples, "things_total") == 5
    assert total(samples, "things_total", kind="b") == 3


def test_quantile_interpolates_like_prometheus():
    # 10 observations in (0, 0.1], 10 in (0.1, 0.5]: median is the 0.1 boundary,
    # p75 halfway through the second bucket.
    buckets = [(0.1, 10), (0.5, 20), (math.inf, 20)]
    assert histogram_quantile(0.5, buckets) == 0.1
    assert math.isclose(histogram_quantile(0.75, buckets), 0.3)
    assert math.isnan(histogram_quantile(0.5, [(0.1, 0), (math.inf, 0)]))
    # rank falls in +Inf: answer is the highest finite bound
    assert histogram_quantile(0.99, [(0.1, 1), (math.inf, 10)]) == 0.1


def test_quantile_from_a_real_histogram():
    reg = CollectorRegistry()
    h = Histogram("lat_seconds", "x", ["route"], buckets=(0.1, 0.2, 0.4), registry=reg)
    for v in (0.05,) * 50 + (0.3,) * 50:
        h.labels("/a").observe(v)
    samples, _ = parse(generate_latest(reg).decode())
    assert math.isclose(quantile(samples, 0.5, "lat_seconds", route="/a"), 0.1)
    assert 0.2 < quantile(samples, 0.9, "lat_seconds") <= 0.4
