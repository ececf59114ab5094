"""Event counts over a sliding time window, kept in a few buckets (windowed counts)."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable

Clock = Callable[[], float]


class SlidingWindow:
    """Counts of named events (``requests``, ``retries``...) over the last ``window_s``.

    The window is cut into ``buckets`` slices; a slice older than the window is dropped
    whole, so counts are exact to one slice.
    """

    def __init__(self, window_s: float, buckets: int = 10, clock: Clock = time.monotonic) -> None:
        self.window_s = float(window_s)
        self.buckets = buckets
        self.clock = clock
        self._slices: deque[tuple[int, Counter]] = deque()

    def _slice_index(self) -> int:
        return int(self.clock() // (self.window_s / self.buckets))

    def _expire(self, current: int) -> None:
        while self._slices and self._slices[0][0] <= current - self.buckets:
            self._slices.popleft()

    def add(self, key: str, n: float = 1) -> None:
        current = self._slice_index()
        self._expire(current)
        if not self._slices or self._slices[-1][0] != current:
            self._slices.append((current, Counter()))
        self._slices[-1][1][key] += n

    def total(self, key: str) -> float:
        self._expire(self._slice_index())
        return sum(counts[key] for _, counts in self._slices)

    def resize(self, window_s: float) -> None:
        """Use a new window length; counts start again (a policy change, rare)."""
        if float(window_s) != self.window_s:
            self.window_s = float(window_s)
            self._slices.clear()

    def clear(self) -> None:
        self._slices.clear()
