"""The adaptive concurrency limit: AIMD on windowed latency, on a deterministic clock."""

import pytest

from gameday_services.gateway.limiter import (
    START_LIMIT,
    AdaptiveLimit,
    next_limit,
    window_percentile,
)
from gameday_services.gateway.policy import AdmissionPolicy

POLICY = AdmissionPolicy(adaptive_limit=True, limit_target_latency_s=0.1, limit_min=2,
                         limit_window_s=0.25)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_window(limit: AdaptiveLimit, clock: Clock, policy: AdmissionPolicy,
               concurrency: int, latency_s: float) -> int:
    """``concurrency`` requests admitted together, all done after ``latency_s``; the last
    one closes the window. Returns how many were admitted."""
    admitted = sum(limit.try_enter(policy) for _ in range(concurrency))
    for _ in range(admitted - 1):
        limit.leave(policy, latency_s)
    clock.now += policy.limit_window_s
    limit.leave(policy, latency_s)
    return admitted


def test_window_percentile_is_nearest_rank():
    assert window_percentile([]) == 0.0
    assert window_percentile([0.5]) == 0.5
    assert window_percentile([i / 100 for i in range(1, 101)]) == 0.9
    assert window_percentile([0.01] * 9 + [2.0]) == 0.01  # one outlier in ten is tolerated
    assert window_percentile([0.01] * 8 + [2.0] * 2) == 2.0


def test_next_limit_is_aimd():
    assert next_limit(20, 0.05, 0.1, peak_in_flight=20) == 21  # under target, used: +1
    assert next_limit(20, 0.05, 0.1, peak_in_flight=5) == 20  # under target, idle: kept
    assert next_limit(20, 0.105, 0.1, peak_in_flight=20) == pytest.approx(18)  # x0.9 at most
    assert next_limit(20, 0.125, 0.1, peak_in_flight=20) == pytest.approx(16)  # x target/obs
    assert next_limit(20, 5.0, 0.1, peak_in_flight=20) == pytest.approx(10)  # x0.5 at least


def test_limit_refuses_beyond_its_value_and_gives_slots_back():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    assert limit.current(POLICY) == START_LIMIT
    assert sum(limit.try_enter(POLICY) for _ in range(30)) == START_LIMIT
    limit.leave(POLICY, 0.01)
    assert limit.in_flight == START_LIMIT - 1 and limit.try_enter(POLICY)


def test_limit_adjusts_once_per_window():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    for _ in range(5):  # slow answers, but the window has not ended: no change
        assert limit.try_enter(POLICY)
        clock.now += 0.01
        limit.leave(POLICY, 1.0)
    assert limit.current(POLICY) == START_LIMIT
    clock.now += 0.25
    assert limit.try_enter(POLICY)
    limit.leave(POLICY, 1.0)
    assert limit.current(POLICY) == START_LIMIT // 2


def test_slow_answers_cut_the_limit_to_its_floor_and_fast_busy_ones_raise_it():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    for _ in range(10):
        run_window(limit, clock, POLICY, concurrency=50, latency_s=1.0)
    assert limit.current(POLICY) == POLICY.limit_min
    for _ in range(10):  # fast, and every slot used: one more per window
        run_window(limit, clock, POLICY, concurrency=50, latency_s=0.02)
    assert limit.current(POLICY) == POLICY.limit_min + 10


def test_an_idle_limit_does_not_grow():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    for _ in range(50):
        run_window(limit, clock, POLICY, concurrency=3, latency_s=0.02)
    assert limit.current(POLICY) == START_LIMIT


def test_max_in_flight_stays_the_ceiling():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    capped = POLICY.model_copy(update={"max_in_flight": 8})
    assert limit.current(capped) == 8
    assert sum(limit.try_enter(capped) for _ in range(20)) == 8
    low = POLICY.model_copy(update={"max_in_flight": 1, "limit_min": 4})
    assert limit.current(low) == 1


def test_limit_settles_near_throughput_times_target_latency():
    """A saturated server: 200 answers/s, so latency = 20 ms + limit / 200 (Little's law).
    The limit at the 100 ms target is (0.1 - 0.02) * 200 = 16; AIMD saws around it."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    seen = []
    for _ in range(200):
        current = limit.current(POLICY)
        run_window(limit, clock, POLICY, concurrency=1000, latency_s=0.02 + current / 200)
        seen.append(current)
    late = seen[100:]
    assert 8 <= min(late) and max(late) <= 18
    assert 12 <= sum(late) / len(late) <= 17
