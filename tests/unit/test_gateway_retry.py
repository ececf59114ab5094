"""Retries: which failures, backoff bounds, Retry-After parsing and the retry budget."""

import random

import pytest

from gameday_services.gateway.policy import RetryPolicy
from gameday_services.gateway.retry import (
    RetryBudget,
    backoff_delay,
    is_retryable,
    parse_retry_after,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("kind,status,expected", [
    ("connect_error", None, True), ("timeout", None, True), ("error", 502, True),
    ("error", 503, True), ("error", 504, True), ("error", 500, False), ("error", 429, False),
    ("error", 404, False), ("circuit_open", None, False), ("throttled", None, False),
])
def test_only_transient_failures_are_retryable(kind, status, expected):
    assert is_retryable(kind, status) is expected


def test_backoff_is_jittered_within_exponential_bounds():
    rng = random.Random(7)
    for retry in range(1, 8):
        ceiling = min(0.5, 0.025 * 2 ** (retry - 1))
        delays = [backoff_delay(retry, 0.025, 0.5, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the range
    assert backoff_delay(30, 0.025, 0.5, rng) <= 0.5


def test_retry_after_in_seconds_or_http_date():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_budget_caps_retries_at_about_ten_percent_of_requests():
    budget = RetryBudget(Clock())
    policy = RetryPolicy(max_attempts=3, budget_ratio=0.1, budget_min_retries=3)
    granted = 0
    for _ in range(100):  # every request fails and wants 2 retries
        budget.record_request(policy)
        for _ in range(policy.max_attempts - 1):
            granted += budget.try_acquire(policy)
    assert 10 <= granted <= 10 + policy.budget_min_retries


def test_budget_refills_as_the_window_slides():
    clock = Clock()
    budget = RetryBudget(clock)
    policy = RetryPolicy(budget_ratio=0.1, budget_min_retries=1, budget_window_s=10)
    budget.record_request(policy)
    assert budget.try_acquire(policy)
    assert not budget.try_acquire(policy)
    clock.now += 11
    budget.record_request(policy)
    assert budget.try_acquire(policy)


def test_zero_budget_allows_no_retry():
    budget = RetryBudget(Clock())
    policy = RetryPolicy(budget_ratio=0.0, budget_min_retries=0)
    for _ in range(50):
        budget.record_request(policy)
    assert not budget.try_acquire(policy)
