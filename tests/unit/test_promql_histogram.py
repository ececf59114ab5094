"""histogram_quantile on classic buckets, as Prometheus computes it (promql/quantile.go)."""

import math

import pytest

from gameday.engine.promql_functions import HISTOGRAM
from gameday.engine.promql_histogram import bucket_quantile, histogram_quantile

INF = math.inf
BUCKETS = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (INF, 100.0)]


@pytest.mark.parametrize(("q", "expected"), [
    (0.0, 0.0), (0.25, 0.05), (0.5, 0.1), (0.7, 0.3), (0.95, 0.75), (1.0, 1.0),
])
def test_linear_interpolation_inside_the_bucket(q, expected):
    assert math.isclose(bucket_quantile(q, BUCKETS), expected, abs_tol=1e-12)


def test_rank_in_the_inf_bucket_returns_the_last_finite_bound():
    assert bucket_quantile(0.99, [(0.1, 1.0), (0.5, 2.0), (INF, 10.0)]) == 0.5


def test_out_of_range_q_and_nan():
    assert bucket_quantile(-0.1, BUCKETS) == -INF
    assert bucket_quantile(1.1, BUCKETS) == INF
    assert math.isnan(bucket_quantile(math.nan, BUCKETS))


def test_nan_without_inf_bucket_or_observations_or_enough_buckets():
    assert math.isnan(bucket_quantile(0.5, [(0.1, 1.0), (0.5, 2.0)]))
    assert math.isnan(bucket_quantile(0.5, [(0.1, 0.0), (INF, 0.0)]))
    assert math.isnan(bucket_quantile(0.5, [(INF, 4.0)]))


def test_order_does_not_matter_and_non_monotonic_counts_are_fixed():
    assert bucket_quantile(0.5, list(reversed(BUCKETS))) == 0.1
    # 0.5 bucket dipped below the 0.1 bucket (scrape skew): treated as 50
    assert bucket_quantile(0.5, [(0.1, 50.0), (0.5, 40.0), (1.0, 100.0), (INF, 100.0)]) == 0.1


def test_negative_first_bound_returns_the_bound():
    assert bucket_quantile(0.1, [(-1.0, 5.0), (0.0, 10.0), (INF, 10.0)]) == -1.0


def test_vector_groups_by_labels_other_than_le():
    vector = [((("__name__", "x_bucket"), ("job", "a"), ("le", str(b))), c) for b, c in BUCKETS]
    vector += [((("job", "b"), ("le", "0.2")), 1.0), ((("job", "b"), ("le", "+Inf")), 1.0),
               ((("job", "c"),), 3.0)]
    result = dict(histogram_quantile(0.5, vector))
    assert result == {(("job", "a"),): 0.1, (("job", "b"),): 0.1}
    assert HISTOGRAM["histogram_quantile"] is histogram_quantile
