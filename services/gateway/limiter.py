"""Adaptive concurrency limit: AIMD on the latency of admitted requests against a target.

Little's law: at a given throughput, requests in flight and latency move together, so a cap
on requests in flight is a cap on queueing. The right cap (throughput x acceptable latency)
differs per machine, per model version and under faults; a fixed ``max_in_flight`` is
either too high (it sheds only after the latency SLO is lost) or too low (it sheds load the
stack could serve). This limit finds the cap from what it observes, in the way of Netflix's
concurrency-limits (``AIMDLimit``) and TCP congestion control:

- latency is sampled on every admitted request, from admission to the end of its answer;
- once per window (``limit_window_s``), the 90th percentile of the window's samples is
  compared with ``limit_target_latency_s``:
  over it, the limit is cut multiplicatively, by ``target / observed`` (at least by
  ``DECREASE_MIN``, at most by ``DECREASE_MAX``): the further over, the harder the cut;
  under it, and if the limit was at least half used in the window, it grows by one;
- the limit stays between ``limit_min`` and ``max_in_flight`` (the hard ceiling).

The target is a latency, not a machine property: set it below the SLO threshold (the
classify SLO's is 300 ms) and above the latency of an unloaded request.
"""

from __future__ import annotations

import math
import time

from gameday_services.gateway.policy import AdmissionPolicy
from gameday_services.gateway.window import Clock

START_LIMIT = 20  # Netflix concurrency-limits' initial limit
DECREASE_MIN = 0.5  # never cut by more than half in one window
DECREASE_MAX = 0.9  # AIMD's usual backoff ratio when just over the target
PERCENTILE = 0.9


def window_percentile(samples: list[float], q: float = PERCENTILE) -> float:
    """The ``q`` quantile of ``samples`` (nearest rank); 0 for none."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def next_limit(limit: float, observed_s: float, target_s: float, peak_in_flight: int) -> float:
    """The limit after one window: AIMD on the window's latency against the target."""
    if observed_s > target_s:
        return limit * min(DECREASE_MAX, max(DECREASE_MIN, target_s / observed_s))
    if peak_in_flight * 2 >= limit:
        return limit + 1
    return limit


class AdaptiveLimit:
    """Requests in flight against a limit that follows observed latency."""

    def __init__(self, clock: Clock = time.perf_counter) -> None:
        self.clock = clock
        self.limit = float(START_LIMIT)
        self.in_flight = 0
        self._samples: list[float] = []
        self._peak = 0
        self._window_start = clock()

    def current(self, policy: AdmissionPolicy) -> int:
        """The limit as it applies now, within [limit_min, max_in_flight]."""
        floor = min(policy.limit_min, policy.max_in_flight)
        return max(floor, min(policy.max_in_flight, int(self.limit)))

    def try_enter(self, policy: AdmissionPolicy) -> bool:
        if self.in_flight >= self.current(policy):
            return False
        self.in_flight += 1
        if self.in_flight > self._peak:
            self._peak = self.in_flight
        return True

    def leave(self, policy: AdmissionPolicy, latency_s: float) -> None:
        """One admitted request done after ``latency_s``; closes the window when due."""
        self.in_flight = max(0, self.in_flight - 1)
        self._samples.append(latency_s)
        now = self.clock()
        if now - self._window_start >= policy.limit_window_s:
            self._adjust(policy, now)

    def _adjust(self, policy: AdmissionPolicy, now: float) -> None:
        observed = window_percentile(self._samples)
        limit = next_limit(self.limit, observed, policy.limit_target_latency_s, self._peak)
        floor = min(policy.limit_min, policy.max_in_flight)
        self.limit = max(float(floor), min(float(policy.max_in_flight), limit))
        self._samples = []
        self._peak = self.in_flight
        self._window_start = now
