"""``histogram_quantile`` as Prometheus 2.x computes it (promql/quantile.go, classic buckets).

    bucket_quantile(0.99, [(0.1, 5.0), (0.5, 9.0), (inf, 10.0)])   # -> 0.5
    histogram_quantile(0.99, vector)   # vector of (labels with 'le', value) -> per group

Semantics kept from Prometheus: q < 0 gives -Inf, q > 1 gives +Inf, NaN q gives NaN; the
``+Inf`` bucket must be present (else NaN); fewer than two buckets or no observations give
NaN; cumulative counts that decrease (scrape skew) are made monotonic; a rank in the +Inf
bucket returns the upper bound of the last finite bucket; the first bucket's lower bound is
0 when its upper bound is positive (else the rank falls on the upper bound); inside a bucket
the value is interpolated linearly. Series without an ``le`` label are dropped.
"""

from __future__ import annotations

import math

from gameday.engine.store import Labels

__all__ = ["bucket_quantile", "histogram_quantile"]


def _ensure_monotonic(counts: list[float]) -> list[float]:
    out, top = [], -math.inf
    for c in counts:
        top = max(top, c)
        out.append(top)
    return out


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Quantile ``q`` of (upper bound, cumulative count) buckets, in any order."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets, key=lambda b: b[0])
    if not buckets or not math.isinf(buckets[-1][0]) or buckets[-1][0] < 0:
        return math.nan
    # Coalesce equal bounds (Prometheus sums them) before the checks.
    merged: list[list[float]] = []
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    if len(merged) < 2:
        return math.nan
    bounds = [b for b, _ in merged]
    counts = _ensure_monotonic([c for _, c in merged])
    observations = counts[-1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    b = next(i for i, c in enumerate(counts) if c >= rank)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end = (0.0, bounds[0]) if b == 0 else (bounds[b - 1], bounds[b])
    count = counts[b] - (counts[b - 1] if b > 0 else 0.0)
    below = counts[b - 1] if b > 0 else 0.0
    if count == 0:  # only when q == 0 and the first bucket is empty: 0/0 in Go
        return math.nan
    return start + (end - start) * ((rank - below) / count)


def histogram_quantile(q: float, vector: list[tuple[Labels, float]]) -> list[tuple[Labels, float]]:
    """Per group of labels other than ``le`` and ``__name__``, the quantile of its buckets."""
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for key, value in vector:
        labels = dict(key)
        le = labels.pop("le", None)
        if le is None:
            continue
        try:
            bound = float(le)
        except ValueError:
            continue
        labels.pop("__name__", None)
        groups.setdefault(tuple(sorted(labels.items())), []).append((bound, value))
    return [(group, bucket_quantile(q, buckets)) for group, buckets in groups.items()]
