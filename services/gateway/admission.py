"""Admission control: a cap on requests in flight, and client-side adaptive throttling.

Beyond ``max_in_flight`` (or, with ``adaptive_limit`` on, beyond the adaptive limit of
services/gateway/limiter.py on /v1/classify) the gateway sheds with 429 (or 503) and a
Retry-After header; services/gateway/shedding.py applies it before routing.

Adaptive throttling (SRE book, "Handling Overload") rejects a call to an upstream locally
with probability ``max(0, (requests - K * accepts) / (requests + 1))``, where requests and
accepts are counted over a sliding window; it is off unless the lever is turned on.
"""

from __future__ import annotations

import random
import time

from gameday_services.gateway.limiter import AdaptiveLimit
from gameday_services.gateway.policy import AdmissionPolicy
from gameday_services.gateway.window import Clock, SlidingWindow


class Admission:
    """Counts requests in flight; ``try_enter`` refuses beyond the cap. ``limit`` is the
    adaptive limit, used on /v1/classify when the policy turns it on."""

    def __init__(self, clock: Clock = time.perf_counter) -> None:
        self.in_flight = 0
        self._clock = clock
        self.limit = AdaptiveLimit(clock)

    def restart_limit(self) -> None:
        """A fresh adaptive limit (the policy turned it on). Requests admitted under the
        old one give their slots back to it."""
        self.limit = AdaptiveLimit(self._clock)

    def try_enter(self, policy: AdmissionPolicy) -> bool:
        if self.in_flight >= policy.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def is_full(self, policy: AdmissionPolicy) -> bool:
        """True when ``try_enter`` would refuse now (checked before a body is read)."""
        return self.in_flight >= policy.max_in_flight

    def leave(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)

    def current_limit(self, policy: AdmissionPolicy) -> int:
        """The cap on /v1/classify requests in flight as it applies now."""
        return self.limit.current(policy) if policy.adaptive_limit else policy.max_in_flight


def throttle_probability(requests: float, accepts: float, k: float) -> float:
    """The SRE book's client-side throttling probability."""
    return max(0.0, (requests - k * accepts) / (requests + 1))


class AdaptiveThrottle:
    """Per-upstream request/accept counts and the local rejection decision."""

    def __init__(self, clock: Clock = time.monotonic, rng: random.Random | None = None) -> None:
        self.window = SlidingWindow(60.0, clock=clock)
        self.rng = rng or random.Random()

    def probability(self, policy: AdmissionPolicy) -> float:
        self.window.resize(policy.throttle_window_s)
        return throttle_probability(self.window.total("requests"),
                                    self.window.total("accepts"), policy.throttle_k)

    def should_reject(self, policy: AdmissionPolicy) -> bool:
        """Count one request and decide whether to reject it without sending it."""
        p = self.probability(policy)
        self.window.add("requests")
        return self.rng.random() < p

    def record_accept(self) -> None:
        self.window.add("accepts")
