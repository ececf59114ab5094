"""Circuit breaker per upstream.

closed --(N consecutive failures, or error ratio over the window)--> open
open --(cool-down elapsed)--> half-open: a limited number of probes go through
half-open --(every probe succeeded)--> closed;  --(a probe failed)--> open again.

An open circuit fails fast; the caller then applies its fallbacks. Each attempt takes a
``Permit`` and reports its outcome with it, so a late answer from before a state change
never counts as a probe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gameday_services.gateway.policy import BreakerPolicy
from gameday_services.gateway.window import Clock, SlidingWindow

log = logging.getLogger("services.gateway")

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


@dataclass(frozen=True)
class Permit:
    generation: int
    probe: bool


class CircuitBreaker:
    def __init__(self, name: str, clock: Clock = time.monotonic,
                 on_change: Callable[[str, str], None] | None = None) -> None:
        self.name = name
        self.clock = clock
        self.on_change = on_change
        self._state = CLOSED
        self._generation = 0
        self._opened_at = 0.0
        self._consecutive = 0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self.window = SlidingWindow(10.0, clock=clock)

    # -- state --------------------------------------------------------------------
    def state(self, policy: BreakerPolicy) -> str:
        """The current state; an open circuit whose cool-down has passed is half-open."""
        if not policy.enabled:
            if self._state != CLOSED:
                self._move(CLOSED)
            return CLOSED
        if self._state == OPEN and self.clock() - self._opened_at >= policy.cooldown_s:
            self._move(HALF_OPEN)
        return self._state

    def _move(self, state: str) -> None:
        old, self._state = self._state, state
        self._generation += 1
        self._consecutive = 0
        self._probes_in_flight = 0
        self._probe_successes = 0
        if state == OPEN:
            self._opened_at = self.clock()
        if state == CLOSED:
            self.window.clear()
        log.warning("circuit %s", state, extra={"upstream": self.name, "from_state": old})
        if self.on_change is not None:
            self.on_change(self.name, state)

    def force(self, state: str) -> None:
        """Set the state by hand (admin)."""
        if state not in STATE_VALUES:
            raise ValueError(f"unknown circuit state {state!r}")
        self._move(state)

    # -- calls --------------------------------------------------------------------
    def allow(self, policy: BreakerPolicy) -> Permit | None:
        """A permit to send one attempt, or None when the circuit is open (fail fast)."""
        state = self.state(policy)
        if state == CLOSED:
            return Permit(self._generation, probe=False)
        if state == HALF_OPEN and self._probes_in_flight < policy.half_open_probes:
            self._probes_in_flight += 1
            return Permit(self._generation, probe=True)
        return None

    def record(self, permit: Permit, policy: BreakerPolicy, ok: bool | None) -> None:
        """The outcome of an attempt: True success, False failure, None cancelled."""
        if permit.generation != self._generation or not policy.enabled:
            return
        if permit.probe:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
            if ok is False:
                self._move(OPEN)
            elif ok:
                self._probe_successes += 1
                if self._probe_successes >= policy.half_open_probes:
                    self._move(CLOSED)
            return
        if ok is None:
            return
        self.window.resize(policy.window_s)
        self.window.add("requests")
        if ok:
            self._consecutive = 0
            return
        self.window.add("failures")
        self._consecutive += 1
        if self._consecutive >= policy.consecutive_failures or self._ratio_tripped(policy):
            self._move(OPEN)

    def _ratio_tripped(self, policy: BreakerPolicy) -> bool:
        requests = self.window.total("requests")
        return (requests >= policy.min_requests
                and self.window.total("failures") / requests >= policy.error_ratio)

    def snapshot(self, policy: BreakerPolicy) -> dict:
        state = self.state(policy)
        return {
            "state": state,
            "consecutive_failures": self._consecutive,
            "window_requests": self.window.total("requests"),
            "window_failures": self.window.total("failures"),
            "open_for_s": round(self.clock() - self._opened_at, 3) if state == OPEN else None,
        }
