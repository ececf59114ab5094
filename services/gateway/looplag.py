"""How late the gateway's event loop runs: the queue that requests in flight do not show.

A request answered without waiting on anything (a fallback while a circuit is open, a
refusal) runs from start to end in one step of the loop: it is never "in flight" across a
wait, so no cap on requests in flight sees it, however many arrive. Past what the gateway's
core can do they queue in front of the loop (socket buffers, the loop's ready queue), and
everything the gateway awaits waits there too. In the overload-spike drill on 2 busy cores
the gateway answered 1,100 fallbacks a second with 0-3 requests in flight and the adaptive
limit at 20 shed nothing, while its loop ran 0.3-1 s late: every half-open probe to a
healthy feature store timed out at 0.5 s, the circuits never closed, and cheap fallbacks
kept letting in more traffic than model answers would have (a metastable failure).

A timer asks to run every ``INTERVAL_S`` and measures how late it runs; ``lag_s`` is the
latest lateness. With the adaptive limit on, /v1/classify requests are refused (before their
body is read, about a quarter of a fallback's CPU) with a probability rising from 0 at
``limit_max_loop_lag_s`` to 1 at twice that (random early detection, as in toobusy-js for
Node's loop): the loop catches up, calls to upstreams get answered in time, circuits close
and the concurrency limit binds again.
"""

from __future__ import annotations

import asyncio
import random
import time

from gameday_services.gateway.policy import AdmissionPolicy
from gameday_services.gateway.window import Clock

INTERVAL_S = 0.05  # the timer's period; what it costs is one loop step 20 times a second


def shed_probability(lag_s: float, max_lag_s: float) -> float:
    """0 up to ``max_lag_s``, rising linearly to 1 at twice it."""
    if lag_s <= max_lag_s:
        return 0.0
    return min(1.0, (lag_s - max_lag_s) / max_lag_s)


class LoopLag:
    """The event loop's lateness, measured by a timer task (``run``)."""

    def __init__(self, interval_s: float = INTERVAL_S, clock: Clock = time.perf_counter,
                 rng: random.Random | None = None) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.rng = rng or random.Random()
        self.lag_s = 0.0
        self._task: asyncio.Task | None = None

    def observe(self, late_s: float) -> None:
        self.lag_s = max(0.0, late_s)

    def should_shed(self, policy: AdmissionPolicy) -> bool:
        """Refuse this request because the loop is late (asked only with the adaptive limit
        on: services/gateway/shedding.py)."""
        p = shed_probability(self.lag_s, policy.limit_max_loop_lag_s)
        return p > 0 and self.rng.random() < p

    async def run(self) -> None:
        while True:
            start = self.clock()
            await asyncio.sleep(self.interval_s)
            self.observe(self.clock() - start - self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
