"""PromQL functions, aggregations and element operators, computed as Prometheus 2.x does.

The order of floating-point operations follows Prometheus's Go code so that results
agree to the last bit where the inputs are the same.
"""

from __future__ import annotations

import math

from gameday.engine.store import Labels


def extrapolated_rate(ts: list[int], vs: list[float], range_start_ms: int, range_end_ms: int,
                      range_s: float, is_counter: bool, is_rate: bool) -> float | None:
    """Prometheus's extrapolatedRate: rate(), increase() (and delta()).

    ``ts``/``vs`` are the window's times (ms) and values, oldest first.
    """
    if len(ts) < 2:
        return None
    first_v, last_v = vs[0], vs[-1]
    result = last_v - first_v
    if is_counter:
        # Added one by one in order, as Prometheus does, so results agree to the bit (not
        # with sum(), which compensates from Python 3.12 on).
        for prev, v in zip(vs, vs[1:]):  # noqa: B905 - vs[1:] is one shorter on purpose
            if v < prev:
                result += prev
    return extrapolate(result, ts[0], first_v, ts[-1], len(ts), range_start_ms, range_end_ms,
                       range_s, is_counter, is_rate)


def extrapolate(result: float, first_t: int, first_v: float, last_t: int, n: int,
                range_start_ms: int, range_end_ms: int, range_s: float, is_counter: bool,
                is_rate: bool) -> float:
    """The rest of extrapolatedRate, from the window's raw increase (``result``, resets
    corrected), first and last points and number of points ``n`` (at least 2)."""
    duration_to_start = (first_t - range_start_ms) / 1000
    duration_to_end = (range_end_ms - last_t) / 1000
    sampled_interval = (last_t - first_t) / 1000
    average_between = sampled_interval / (n - 1)
    if is_counter and result > 0 and first_v >= 0:
        duration_to_zero = sampled_interval * (first_v / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    threshold = average_between * 1.1
    extrapolate_to = sampled_interval
    extrapolate_to += duration_to_start if duration_to_start < threshold else average_between / 2
    extrapolate_to += duration_to_end if duration_to_end < threshold else average_between / 2
    factor = extrapolate_to / sampled_interval
    if is_rate:
        factor /= range_s
    return result * factor


def _kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """Kahan-Neumaier step, as Prometheus's kahanSumInc."""
    t = total + inc
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


# The running sums are states ``(a, b, c)`` that can be extended by later points
# (windowstats.py): the same additions in the same order as one pass over the window.
def avg_over_time_step(state: tuple[float, float, float],
                       values: list[float]) -> tuple[float, float, float]:
    mean, count, c = state
    for v in values:
        count += 1
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and not math.isnan(v):
                continue
        mean, c = _kahan_inc(v / count - mean / count, mean, c)
    return mean, count, c


def avg_over_time_value(state: tuple[float, float, float]) -> float:
    mean, _, c = state
    return mean if math.isinf(mean) else mean + c


def sum_over_time_step(state: tuple[float, float, float],
                       values: list[float]) -> tuple[float, float, float]:
    total, _, c = state
    for v in values:
        total, c = _kahan_inc(v, total, c)
    return total, 0.0, c


def sum_over_time_value(state: tuple[float, float, float]) -> float:
    total, _, c = state
    return total if math.isinf(total) else total + c


def _avg_over_time(values: list[float]) -> float:
    return avg_over_time_value(avg_over_time_step((0.0, 0.0, 0.0), values))


def _sum_over_time(values: list[float]) -> float:
    return sum_over_time_value(sum_over_time_step((0.0, 0.0, 0.0), values))


def _sum(values: list[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def _max(values: list[float]) -> float:
    best = values[0]
    for v in values[1:]:
        if v > best or math.isnan(best):
            best = v
    return best


def _min(values: list[float]) -> float:
    best = values[0]
    for v in values[1:]:
        if v < best or math.isnan(best):
            best = v
    return best


OVER_TIME = {
    "sum_over_time": _sum_over_time,
    "count_over_time": lambda values: float(len(values)),
    "avg_over_time": _avg_over_time,
    "max_over_time": _max,
    "min_over_time": _min,
    "last_over_time": lambda values: values[-1],
}
RATE_LIKE = {"rate": (True, True), "increase": (True, False), "delta": (False, False)}


# -- element operators ------------------------------------------------------------------
def arithmetic(op: str, lhs: float, rhs: float) -> float:
    if op == "+":
        return lhs + rhs
    if op == "-":
        return lhs - rhs
    if op == "*":
        return lhs * rhs
    if op == "/":
        if rhs == 0:
            if lhs == 0 or math.isnan(lhs):
                return math.nan
            return math.copysign(math.inf, lhs) * math.copysign(1.0, rhs)
        return lhs / rhs
    if op == "%":
        if rhs == 0 or math.isinf(lhs) or math.isnan(lhs) or math.isnan(rhs):
            return math.nan
        if math.isinf(rhs):
            return lhs
        return math.fmod(lhs, rhs)
    if op == "^":
        try:
            return math.pow(lhs, rhs)
        except (OverflowError, ValueError):
            return _go_pow(lhs, rhs)
    if op == "atan2":
        return math.atan2(lhs, rhs)
    raise AssertionError(op)


def _go_pow(lhs: float, rhs: float) -> float:
    if lhs == 0 and rhs < 0:
        return math.inf
    if lhs < 0 and not float(rhs).is_integer():
        return math.nan
    return math.inf if abs(lhs) > 1 else 0.0


COMPARISONS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}
ARITHMETIC = {"+", "-", "*", "/", "%", "^", "atan2"}
SET_OPS = {"and", "or", "unless"}


# -- aggregation ------------------------------------------------------------------------
def aggregate(op: str, vector: list[tuple[Labels, float]], labels: list[str],
              without: bool) -> list[tuple[Labels, float]]:
    """sum/min/max/avg/count (by|without), groups in order of first appearance."""
    keep = set(labels)
    groups: dict[Labels, list[float]] = {}
    for key, value in vector:
        if without:
            group = tuple(kv for kv in key if kv[0] not in keep and kv[0] != "__name__")
        else:
            group = tuple(kv for kv in key if kv[0] in keep)
        groups.setdefault(group, []).append(value)
    out = []
    for group, values in groups.items():
        if op == "sum":
            value = _sum(values)
        elif op == "count":
            value = float(len(values))
        elif op == "max":
            value = _max(values)
        elif op == "min":
            value = _min(values)
        else:
            value = _avg_aggr(values)
        out.append((group, value))
    return out


def _avg_aggr(values: list[float]) -> float:
    mean, count = values[0], 1.0
    for v in values[1:]:
        count += 1
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and not math.isnan(v):
                continue
        mean += v / count - mean / count
    return mean


# -- histograms (classic buckets) ---------------------------------------------------------
# histogram_quantile lives in its own module; the evaluator's call() can dispatch to it as
# HISTOGRAM["histogram_quantile"](q, vector).
from gameday.engine.promql_histogram import histogram_quantile  # noqa: E402

HISTOGRAM = {"histogram_quantile": histogram_quantile}
