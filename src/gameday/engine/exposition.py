"""Reading the Prometheus text exposition format into plain samples."""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, key: str, default: str = "") -> str:
        return dict(self.labels).get(key, default)


def parse(text: str) -> tuple[list[Sample], dict[str, str]]:
    """Samples and the declared TYPE of each metric family."""
    samples, types = [], {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples.append(Sample(s.name, tuple(sorted(s.labels.items())), float(s.value)))
    return samples, types


def fetch(url: str, timeout: float = 2.0) -> tuple[list[Sample], dict[str, str]]:
    resp = httpx.get(url.rstrip("/") + "/metrics", timeout=timeout)
    resp.raise_for_status()
    return parse(resp.text)


def total(samples: list[Sample], name: str, **match: str) -> float:
    """Sum of every sample of ``name`` whose labels include ``match``."""
    return sum(
        s.value for s in samples
        if s.name == name and all(s.label(k) == v for k, v in match.items())
    )


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's estimate: linear interpolation inside the bucket holding rank q*count.

    ``buckets`` are (upper bound, cumulative count) pairs, +Inf included.
    """
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] == 0:
        return math.nan
    count = buckets[-1][1]
    rank = q * count
    prev_bound, prev_count = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return prev_bound
            if cumulative == prev_count:
                return bound
            share = (rank - prev_count) / (cumulative - prev_count)
            return prev_bound + (bound - prev_bound) * share
        prev_bound, prev_count = bound, cumulative
    return prev_bound


def quantile(samples: list[Sample], q: float, name: str, **match: str) -> float:
    """Quantile of histogram ``name`` (without ``_bucket``), buckets summed over other labels."""
    by_le: dict[float, float] = {}
    for s in samples:
        if s.name == name + "_bucket" and all(s.label(k) == v for k, v in match.items()):
            le = float(s.label("le"))
            by_le[le] = by_le.get(le, 0.0) + s.value
    return histogram_quantile(q, list(by_le.items()))
