"""The error-budget safeguard: halt an experiment once it has cost too much budget.

Like Gremlin's halt or chaostoolkit-addons' safeguards, but on the SLOs themselves: every
``interval`` (and before each activity) the budget consumed is read from the query API, and
once it passes ``max_budget_consumed`` for any watched SLO the experiment is interrupted.

Budget consumed per SLO (fraction of the period's error budget, may exceed 1):
- ``since="experiment"`` (default): remaining when the safeguard started minus remaining now;
- ``since="period"``: 1 - remaining now (right for a stack started for the drill).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time

log = logging.getLogger("gameday.chaos")

__all__ = ["Safeguard", "budget_consumed", "first_breach", "read_remaining"]

SINCE = ("experiment", "period")


def budget_consumed(now: dict[str, float], start: dict[str, float] | None,
                    since: str = "experiment") -> dict[str, float]:
    """Budget consumed per SLO id; an SLO missing from ``start`` counts from 1.0."""
    if since not in SINCE:
        raise ValueError(f"safeguard: 'since' must be one of {', '.join(SINCE)}, got {since!r}")
    base = start or {}
    out = {}
    for slo, remaining in now.items():
        if math.isnan(remaining):
            continue
        origin = 1.0 if since == "period" else base.get(slo, 1.0)
        out[slo] = max(0.0, origin - remaining)
    return out


def first_breach(consumed: dict[str, float], limit: float) -> tuple[str, float] | None:
    """The SLO that consumed the most budget, if that passed ``limit``."""
    if not consumed:
        return None
    slo, value = max(consumed.items(), key=lambda kv: (kv[1], kv[0]))
    return (slo, value) if value > limit else None


def read_remaining(api, slos: list[str] | None = None) -> dict[str, float]:
    """slo:period_error_budget_remaining:ratio per sloth_id (filtered by id or name); an SLO
    with a budget but no remaining value yet (no traffic) counts as 1.0."""
    def wanted(labels: dict) -> bool:
        return not slos or labels.get("sloth_id") in slos or labels.get("sloth_slo") in slos

    found = {s.labels.get("sloth_id", "?"): 1.0 for s in api.query("slo:error_budget:ratio")
             if wanted(s.labels)}
    for s in api.query("slo:period_error_budget_remaining:ratio"):
        if wanted(s.labels) and not math.isnan(s.value):
            found[s.labels.get("sloth_id", "?")] = min(1.0, s.value)
    return found


class Safeguard:
    """Watches the budget; ``check()`` returns the trip reason (also kept in ``tripped``)."""

    def __init__(self, api, max_budget_consumed: float, slos: list[str] | None = None,
                 since: str = "experiment", interval_s: float = 2.0, on_trip=None,
                 halt_now: bool = True) -> None:
        if not 0 < float(max_budget_consumed):
            raise ValueError(f"safeguard: max_budget_consumed must be above 0, got "
                             f"{max_budget_consumed!r}")
        budget_consumed({}, None, since)  # validates ``since``
        self.api, self.limit, self.slos, self.since = api, float(max_budget_consumed), slos, since
        self.interval_s, self.on_trip, self.halt_now = interval_s, on_trip, halt_now
        self.start_remaining: dict[str, float] | None = None
        self.tripped: str | None = None
        self.consumed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self) -> None:
        self.start_remaining = read_remaining(self.api, self.slos)
        if self.slos and not self.start_remaining:
            raise ValueError(f"safeguard: none of the SLOs {self.slos} is in the rules the "
                             f"query API runs")

    def check(self) -> str | None:
        with self._lock:
            if self.tripped:
                return self.tripped
            now = read_remaining(self.api, self.slos)
            self.consumed = budget_consumed(now, self.start_remaining, self.since)
            breach = first_breach(self.consumed, self.limit)
            if breach is None:
                return None
            slo, value = breach
            self.tripped = (f"safeguard: SLO {slo} consumed {value:.1%} of its error budget "
                            f"(since {self.since} start), over the limit of {self.limit:.1%}")
        if self.on_trip is not None:
            self.on_trip(self.tripped, slo, value)
        return self.tripped

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gameday-safeguard",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                reason = self.check()
            except Exception as err:  # a failed query must not kill the watcher
                log.warning("safeguard: cannot read the error budget: %s", err)
                continue
            if reason:
                if self.halt_now and not self._stop.is_set():
                    interrupt_main()
                return


def interrupt_main() -> bool:
    """SIGTERM ourselves when Chaos Toolkit's handler is installed: it raises
    InterruptExecution in the main thread, wherever the experiment is."""
    try:
        from chaoslib.exit import _terminate_now
    except ImportError:
        return False
    if signal.getsignal(signal.SIGTERM) is not _terminate_now:
        return False
    time.sleep(0)  # let a concurrent stop() win the race before we signal
    os.kill(os.getpid(), signal.SIGTERM)
    return True
