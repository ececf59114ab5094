"""Circuit breaker: closed -> open -> half-open -> closed, with an injected clock."""

from gameday_services.gateway.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from gameday_services.gateway.policy import BreakerPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(breaker, policy, n=1):
    for _ in range(n):
        permit = breaker.allow(policy)
        assert permit is not None
        breaker.record(permit, policy, False)


def succeed(breaker, policy, n=1):
    for _ in range(n):
        permit = breaker.allow(policy)
        assert permit is not None
        breaker.record(permit, policy, True)


def test_opens_after_consecutive_failures_and_fails_fast():
    clock = Clock()
    changes = []
    breaker = CircuitBreaker("classifier", clock, on_change=lambda n, s: changes.append(s))
    policy = BreakerPolicy(consecutive_failures=5, cooldown_s=5)
    fail(breaker, policy, 4)
    assert breaker.state(policy) == CLOSED
    fail(breaker, policy)
    assert breaker.state(policy) == OPEN
    assert breaker.allow(policy) is None
    assert changes == [OPEN]


def test_a_success_resets_the_consecutive_count():
    breaker = CircuitBreaker("features", Clock())
    policy = BreakerPolicy(consecutive_failures=3, min_requests=1000)
    for _ in range(5):
        fail(breaker, policy, 2)
        succeed(breaker, policy)
    assert breaker.state(policy) == CLOSED


def test_opens_on_error_ratio_over_the_window():
    breaker = CircuitBreaker("features", Clock())
    policy = BreakerPolicy(consecutive_failures=100, error_ratio=0.5, min_requests=10)
    for _ in range(5):
        succeed(breaker, policy)
        fail(breaker, policy)
    assert breaker.state(policy) == OPEN


def test_error_ratio_needs_enough_requests():
    breaker = CircuitBreaker("features", Clock())
    policy = BreakerPolicy(consecutive_failures=100, error_ratio=0.5, min_requests=10)
    succeed(breaker, policy)
    fail(breaker, policy, 2)
    assert breaker.state(policy) == CLOSED


def test_half_open_after_cooldown_lets_limited_probes_then_closes():
    clock = Clock()
    breaker = CircuitBreaker("classifier", clock)
    policy = BreakerPolicy(consecutive_failures=1, cooldown_s=5, half_open_probes=2)
    fail(breaker, policy)
    clock.now += 4.9
    assert breaker.allow(policy) is None
    clock.now += 0.2
    assert breaker.state(policy) == HALF_OPEN
    p1, p2 = breaker.allow(policy), breaker.allow(policy)
    assert p1 is not None and p2 is not None
    assert breaker.allow(policy) is None  # probes are limited
    breaker.record(p1, policy, True)
    assert breaker.state(policy) == HALF_OPEN
    breaker.record(p2, policy, True)
    assert breaker.state(policy) == CLOSED


def test_failed_probe_opens_again_for_a_new_cooldown():
    clock = Clock()
    breaker = CircuitBreaker("classifier", clock)
    policy = BreakerPolicy(consecutive_failures=1, cooldown_s=5)
    fail(breaker, policy)
    clock.now += 5
    probe = breaker.allow(policy)
    breaker.record(probe, policy, False)
    assert breaker.state(policy) == OPEN
    clock.now += 4
    assert breaker.allow(policy) is None
    clock.now += 1
    assert breaker.state(policy) == HALF_OPEN


def test_late_answer_from_before_opening_is_not_a_probe():
    clock = Clock()
    breaker = CircuitBreaker("classifier", clock)
    policy = BreakerPolicy(consecutive_failures=1, cooldown_s=1)
    slow = breaker.allow(policy)
    fail(breaker, policy)
    clock.now += 1
    probe = breaker.allow(policy)
    breaker.record(slow, policy, True)  # answered late: ignored
    assert breaker.state(policy) == HALF_OPEN
    breaker.record(probe, policy, True)
    assert breaker.state(policy) == CLOSED


def test_disabled_breaker_always_allows():
    breaker = CircuitBreaker("llm", Clock())
    policy = BreakerPolicy(enabled=False, consecutive_failures=1)
    fail(breaker, policy, 10)
    assert breaker.state(policy) == CLOSED
    assert breaker.allow(policy) is not None
