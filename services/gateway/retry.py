"""Retries: which failures are retryable, backoff with jitter, Retry-After, the retry budget.

The budget follows the SRE book ("Handling Overload"): per client, retries may be at most
about 10% of requests over a sliding window, plus a small fixed allowance so that a quiet
client can still retry. When the budget is spent, a failure is returned without retry.
"""

from __future__ import annotations

import email.utils
import random
import time

from gameday_services.gateway.policy import RetryPolicy
from gameday_services.gateway.window import Clock, SlidingWindow

RETRYABLE_STATUSES = frozenset({502, 503, 504})
RETRYABLE_KINDS = frozenset({"timeout", "connect_error"})


def is_retryable(kind: str, status: int | None = None) -> bool:
    """Connect errors, timeouts and 502/503/504 are retried; 4xx and other 5xx are not."""
    return kind in RETRYABLE_KINDS or (status is not None and status in RETRYABLE_STATUSES)


def backoff_delay(retry: int, base_s: float, max_s: float,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (1 for the first retry): full jitter,
    uniform in [0, min(max_s, base_s * 2**(retry-1))]."""
    ceiling = min(max_s, base_s * (2 ** max(0, retry - 1)))
    return (rng or random).uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RetryBudget:
    """Windowed counts of requests and retries; a retry is allowed while
    ``retries + 1 <= budget_ratio * requests + budget_min_retries``."""

    def __init__(self, clock: Clock = time.monotonic, window_s: float = 10.0) -> None:
        self.window = SlidingWindow(window_s, clock=clock)

    def record_request(self, policy: RetryPolicy) -> None:
        self.window.resize(policy.budget_window_s)
        self.window.add("requests")

    def try_acquire(self, policy: RetryPolicy) -> bool:
        """Spend one retry if the budget allows it."""
        self.window.resize(policy.budget_window_s)
        allowed = policy.budget_ratio * self.window.total("requests") + policy.budget_min_retries
        if self.window.total("retries") + 1 > allowed:
            return False
        self.window.add("retries")
        return True

    def snapshot(self) -> dict:
        return {"requests": self.window.total("requests"),
                "retries": self.window.total("retries"),
                "window_s": self.window.window_s}
