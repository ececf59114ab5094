"""Restart delays after crashes, like a kubelet's CrashLoopBackOff.

The n-th consecutive crash waits ``initial * factor**(n-1)``, capped at ``max``; a process that
was healthy (ready) for ``reset_after`` seconds before crashing starts again from the first
delay.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 10.0
    reset_after_s: float = 30.0

    def delay(self, crashes: int) -> float:
        """Delay before the restart that follows the ``crashes``-th consecutive crash (>= 1)."""
        if crashes < 1:
            return 0.0
        # Cap the exponent so a long crash loop never overflows a float.
        return min(self.initial_s * self.factor ** min(crashes - 1, 64), self.max_s)

    def schedule(self, crashes: int) -> list[float]:
        return [self.delay(n) for n in range(1, crashes + 1)]

    def next_crash_count(self, crashes: int, healthy_s: float) -> int:
        """Consecutive crash count after one more crash, having been healthy ``healthy_s``."""
        return 1 if healthy_s >= self.reset_after_s else crashes + 1
