"""Per-request log lines at a bounded rate: the first of each kind in a second, with the
count of those left out since the last one.

Under overload every request took a fallback, and each logged two lines ("fallback: default
features", "fallback: cached_answer"): 18% of the gateway's CPU answering 1,500 fallbacks a
second (py-spy), spent while it was the bottleneck, and 290,000 lines in 4 minutes that
nobody reads. The metrics count every one of them (gateway_fallbacks_total,
gateway_upstream_requests_total); the log keeps an example of each kind a second, with
``not_logged``: how many like it were left out since.
"""

from __future__ import annotations

import time
from collections.abc import Hashable

from gameday_services.gateway.window import Clock

INTERVAL_S = 1.0


class LogRate:
    """``take(key)``: None to leave this line out, or the number left out before it."""

    def __init__(self, interval_s: float = INTERVAL_S, clock: Clock = time.monotonic) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[Hashable, float] = {}
        self._skipped: dict[Hashable, int] = {}

    def take(self, key: Hashable) -> int | None:
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return None
        if len(self._last) > 10_000:  # keys come from our own code; a bound all the same
            self._last.clear()
            self._skipped.clear()
        self._last[key] = now
        return self._skipped.pop(key, 0)
