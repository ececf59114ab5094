import math

import pytest

from gameday.engine.promql import PromQLError, evaluate
from gameday.engine.store import SampleStore, load_series


def store_of(*series, step=15.0):
    store = SampleStore()
    load_series(store, series, step=step)
    return store


def values(result):
    return {tuple(sorted(dict(k).items())): v for k, v in result}


def one(result):
    (_, v), = result
    return v


def test_rate_without_extrapolation_at_aligned_edges():
    store = store_of(('c{job="a"}', "0+10x10"))
    assert one(evaluate(store, "rate(c[1m])", 150)) == pytest.approx(40 / 60)
    assert one(evaluate(store, "increase(c[1m])", 150)) == 40.0


def test_increase_counts_counter_resets():
    store = store_of(("c", "0 10 20 5 15"))
    assert one(evaluate(store, "increase(c[1m])", 60)) == 35.0


def test_extrapolation_stops_at_the_counters_zero_point():
    # first sample 10 at t=30: zero point is 15 s earlier, inside 1.1 x the 15 s interval
    store = store_of(("c", "_ _ 10 20 30"))
    assert one(evaluate(store, "increase(c[1m])", 60)) == 30.0
    store = store_of(("c", "_ _ 0 10 20"))
    assert one(evaluate(store, "increase(c[1m])", 60)) == 20.0


def test_extrapolation_is_limited_to_half_an_interval_across_a_gap():
    # samples at 0..30, window [0, 90]: end is 60 s past the last sample, > 1.1 x 15 s
    store = store_of(("c", "0 10 20"))
    assert one(evaluate(store, "increase(c[90s])", 90)) == pytest.approx(20 * 37.5 / 30)


def test_rate_needs_two_samples():
    store = store_of(("c", "5"))
    assert evaluate(store, "rate(c[5m])", 10) == []


def test_over_time_functions():
    store = store_of(("g", "1 2 6 3"))
    assert one(evaluate(store, "sum_over_time(g[1m])", 45)) == 12.0
    assert one(evaluate(store, "count_over_time(g[1m])", 45)) == 4.0
    assert one(evaluate(store, "avg_over_time(g[1m])", 45)) == 3.0
    assert one(evaluate(store, "max_over_time(g[1m])", 45)) == 6.0
    assert one(evaluate(store, "min_over_time(g[30s])", 45)) == 2.0  # [15 s, 45 s]


def test_selectors_matchers_are_fully_anchored():
    store = store_of(('m{code="200"}', "1"), ('m{code="500"}', "2"), ('m{code="5000"}', "3"))
    assert one(evaluate(store, 'm{code=~"5.."}', 0)) == 2.0
    assert len(evaluate(store, 'm{code!~"5.."}', 0)) == 2
    assert len(evaluate(store, 'm{code!="200"}', 0)) == 2
    assert one(evaluate(store, '{__name__="m",code="200"}', 0)) == 1.0


def test_offset_shifts_the_evaluation_time():
    store = store_of(("g", "1 2 3 4"))
    assert one(evaluate(store, "g offset 30s", 45)) == 2.0
    assert one(evaluate(store, "max_over_time(g[15s] offset 15s)", 45)) == 3.0


def test_aggregations_by_and_without():
    store = store_of(('r{job="a",inst="1"}', "1"), ('r{job="a",inst="2"}', "3"),
                     ('r{job="b",inst="1"}', "10"))
    assert values(evaluate(store, "sum by (job) (r)", 0)) == {
        (("job", "a"),): 4.0, (("job", "b"),): 10.0}
    assert values(evaluate(store, "max without (inst) (r)", 0)) == {
        (("job", "a"),): 3.0, (("job", "b"),): 10.0}
    assert values(evaluate(store, "min(r)", 0)) == {(): 1.0}
    assert values(evaluate(store, "avg by (inst) (r)", 0)) == {
        (("inst", "1"),): 5.5, (("inst", "2"),): 3.0}
    assert values(evaluate(store, "count(r)", 0)) == {(): 3.0}


def test_arithmetic_drops_the_metric_name_and_divides_like_prometheus():
    store = store_of(('x{a="1"}', "6"), ('z{a="1"}', "0"))
    assert values(evaluate(store, "x * 2 + 1", 0)) == {(("a", "1"),): 13.0}
    assert one(evaluate(store, "x / z", 0)) == math.inf
    assert one(evaluate(store, "-x / z", 0)) == -math.inf
    assert math.isnan(one(evaluate(store, "z / z", 0)))
    assert one(evaluate(store, "x % 4", 0)) == 2.0
    assert one(evaluate(store, "2 ^ x", 0)) == 64.0
    assert evaluate(store, "1 / 0", 0) == math.inf
    assert evaluate(store, "(1 + 2) * -3", 0) == -9.0


def test_comparisons_filter_or_return_bool():
    store = store_of(('x{a="1"}', "6"), ('x{a="2"}', "1"))
    assert values(evaluate(store, "x > 2", 0)) == {(("__name__", "x"), ("a", "1")): 6.0}
    assert values(evaluate(store, "2 < x", 0)) == {(("__name__", "x"), ("a", "1")): 6.0}
    assert values(evaluate(store, "x > bool 2", 0)) == {(("a", "1"),): 1.0, (("a", "2"),): 0.0}
    assert evaluate(store, "1 < bool 2", 0) == 1.0


def test_set_operators_match_on_labels():
    store = store_of(('x{job="a"}', "1"), ('x{job="b"}', "2"), ('y{job="b"}', "5"))
    assert values(evaluate(store, "x and y", 0)) == {(("__name__", "x"), ("job", "b")): 2.0}
    assert values(evaluate(store, "x unless y", 0)) == {(("__name__", "x"), ("job", "a")): 1.0}
    got = values(evaluate(store, "y or x", 0))
    assert got == {(("__name__", "y"), ("job", "b")): 5.0, (("__name__", "x"), ("job", "a")): 1.0}
    assert len(evaluate(store, "x and on () y", 0)) == 2


def test_one_to_one_and_group_left_matching():
    store = store_of(('err{job="a",code="500"}', "2"), ('err{job="a",code="503"}', "4"),
                     ('total{job="a"}', "8"), ('info{job="a",team="t1"}', "1"))
    assert values(evaluate(store, "sum by (job) (err) / total", 0)) == {(("job", "a"),): 0.75}
    got = values(evaluate(store, "err / ignoring (code) group_left total", 0))
    assert got == {(("code", "500"), ("job", "a")): 0.25, (("code", "503"), ("job", "a")): 0.5}
    got = values(evaluate(store, "total * on (job) group_left (team) info", 0))
    assert got == {(("job", "a"), ("team", "t1")): 8.0}
    got = values(evaluate(store, "info * on (job) group_right total", 0))
    assert got == {(("job", "a"),): 8.0}
    assert evaluate(store, "err / total", 0) == []  # label sets differ


def test_many_to_many_matching_is_an_error():
    store = store_of(('err{job="a",code="500"}', "2"), ('err{job="a",code="503"}', "4"),
                     ('total{job="a"}', "8"))
    with pytest.raises(PromQLError, match="many-to-many matching not allowed"):
        evaluate(store, "total / on (job) err", 0)
    with pytest.raises(PromQLError, match="multiple matches"):
        evaluate(store, "err / on (job) total", 0)


def test_vector_and_scalar_literals():
    store = SampleStore()
    assert evaluate(store, "vector(1)", 0) == [((), 1.0)]
    assert evaluate(store, "sum(nothing) or vector(0)", 0) == [((), 0.0)]
    assert evaluate(store, "42", 0) == 42.0
    assert evaluate(store, "time()", 12.5) == 12.5


@pytest.mark.parametrize("expr, message", [
    ("stddev_over_time(x[5m])",
     "unsupported PromQL function 'stddev_over_time' in: stddev_over_time(x[5m])"),
    ("topk(3, x)", "unsupported PromQL aggregation 'topk' in: topk(3, x)"),
    ("quantile(0.5, x)", "unsupported PromQL aggregation 'quantile'"),
    ("max_over_time(rate(x[5m])[30m:1m])", "unsupported PromQL call"),
    ("x @ 100", "unsupported PromQL '@' modifier"),
    ("rate(x[5m:1m])", "unsupported PromQL call"),
])
def test_unsupported_expressions_are_named(expr, message):
    with pytest.raises(PromQLError) as info:
        evaluate(SampleStore(), expr, 0)
    assert str(info.value).startswith(message)


def test_parse_errors_quote_the_expression():
    with pytest.raises(PromQLError, match="cannot parse PromQL 'sum by \\(job'"):
        evaluate(SampleStore(), "sum by (job", 0)


def test_range_vector_alone_is_refused():
    with pytest.raises(PromQLError, match="range vector"):
        evaluate(SampleStore(), "x[5m]", 0)


def test_functions_that_merge_series_are_an_error_and_last_over_time_keeps_the_name():
    store = store_of(('a{job="x"}', "1 2"), ('b{job="x"}', "3 4"))
    with pytest.raises(PromQLError, match="same labelset"):
        evaluate(store, 'rate({__name__=~"a|b"}[1m])', 15)
    assert values(evaluate(store, "last_over_time(a[1m])", 15)) == {
        (("__name__", "a"), ("job", "x")): 2.0}
