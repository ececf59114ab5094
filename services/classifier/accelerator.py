"""A simulated accelerator (one GPU, device "0") driven by the real batches it runs.

- utilisation: fraction of the last ``utilization_window_s`` spent running batches, as
  DCGM's GPU utilisation is the fraction of time a kernel was running;
- memory: the loaded weights plus activations for every queued or running row;
- temperature: a first-order lag toward a target set by utilisation (idle 35 C, full load
  85 C), or toward throttling temperature (93 C) under the ``accelerator_throttle`` fault;
- XID errors: a counter rising ``per_s`` per second under the ``xid_errors`` fault, whose
  batches then fail with probability ``failed_fraction`` (a broken GPU on this replica).

Device faults apply to the whole device, whatever their route.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable

from gameday.faults import FaultStore
from gameday_services.classifier.metrics import ClassifierMetrics
from gameday_services.classifier.settings import Settings

log = logging.getLogger("services.classifier")


class AcceleratorError(RuntimeError):
    """A batch failed on the device."""

    def __init__(self, xid: int) -> None:
        super().__init__(f"accelerator error (XID {xid})")
        self.xid = xid


class Accelerator:
    def __init__(self, settings: Settings, metrics: ClassifierMetrics, store: FaultStore,
                 clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.window_s = settings.utilization_window_s
        self.temperature = settings.temperature_idle_c
        self.model_bytes = 0
        self.queued_rows: Callable[[], int] = lambda: 0
        self._busy: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()  # /metrics reads from a worker thread
        self._running_since: float | None = None
        self._running_rows = 0
        self._last_tick = clock()
        self._xid_carry = 0.0
        metrics.track_accelerator(self.utilization, self.memory_used_bytes,
                                  lambda: self.temperature)

    # -- batches ------------------------------------------------------------------------
    def compute_seconds(self, rows: int) -> float:
        """Simulated time for one batch, slowed down while the device is throttled."""
        s = self.settings
        seconds = (s.compute_base_ms + s.compute_per_item_ms * rows) / 1000.0
        throttle = self.store.first("accelerator_throttle")
        if throttle is not None and throttle.roll(self.rng):
            seconds *= throttle.params["slowdown"]
        return seconds

    def failing_xid(self) -> int | None:
        """The XID a batch fails with right now, or None when it runs fine."""
        fault = self.store.first("xid_errors")
        if fault is None or not fault.roll(self.rng):
            return None
        if self.rng.random() < fault.params["failed_fraction"]:
            return int(fault.params["xid"])
        return None

    def begin_batch(self, rows: int) -> None:
        with self._lock:
            self._running_since = self.clock()
            self._running_rows = rows

    def end_batch(self) -> None:
        now = self.clock()
        with self._lock:
            if self._running_since is not None:
                self._busy.append((self._running_since, now))
            while self._busy and self._busy[0][1] <= now - self.window_s:
                self._busy.popleft()
            self._running_since = None
            self._running_rows = 0

    # -- readings ---------------------------------------------------------------------------
    def utilization(self, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        start = now - self.window_s
        with self._lock:
            intervals = list(self._busy)
            running_since = self._running_since
        busy = sum(min(e, now) - max(b, start) for b, e in intervals if e > start)
        if running_since is not None:
            busy += max(0.0, now - max(running_since, start))
        return max(0.0, min(1.0, busy / self.window_s))

    def memory_used_bytes(self) -> float:
        rows = self.queued_rows() + self._running_rows
        return float(self.model_bytes + rows * self.settings.activation_bytes_per_item)

    # -- the clock --------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        """Advance temperature and XID errors to ``now``."""
        now = self.clock() if now is None else now
        dt = max(0.0, now - self._last_tick)
        self._last_tick = now
        s = self.settings
        target = s.temperature_idle_c + (s.temperature_full_load_c - s.temperature_idle_c) * \
            self.utilization(now)
        if self.store.first("accelerator_throttle") is not None:
            target = max(target, s.temperature_throttle_c)
        self.temperature += (target - self.temperature) * \
            (1.0 - math.exp(-dt / s.temperature_time_constant_s))

        xid = self.store.first("xid_errors")
        if xid is None:
            self._xid_carry = 0.0
            return
        self._xid_carry += xid.params["per_s"] * dt
        whole = int(self._xid_carry)
        self._xid_carry -= whole
        self.metrics.count_xid_errors(whole)

    async def run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # keep the device simulation alive whatever happens
                log.exception("accelerator tick failed")
            await asyncio.sleep(self.settings.accelerator_tick_s)
