"""The console's live metrics: a snapshot about every second from the drill's query API
(the embedded engine, or Prometheus), kept in a short history for pages that open late.

    {"t": unix, "burn": {slo: x}, "error_ratio": {service: x}, "latency_p99_s": {service: x}}

``burn`` is each SLO's ``slo:current_burn_rate:ratio`` (the recording rule the pages read:
the same figure as a page's burn rate), ``error_ratio`` the share of 5xx answers per service
and ``latency_p99_s`` the 99th percentile of request duration per service, both over the
last ``WINDOW``. One thread per drill refreshes it while someone watches (a stream read it
in the last ``IDLE_S``), so a drill nobody opens the console of costs its engine nothing;
streams only read it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = "30s"
HISTORY = 600  # snapshots kept (ten minutes at one a second)
IDLE_S = 30.0  # no stream for this long: no more queries until one comes
QUERIES = {
    "burn": ("slo:current_burn_rate:ratio", "sloth_id"),
    "error_ratio": (f'sum by (service) (rate(http_requests_total{{code=~"5.."}}[{WINDOW}])) '
                    f"/ sum by (service) (rate(http_requests_total[{WINDOW}]))", "service"),
    "latency_p99_s": ("histogram_quantile(0.99, sum by (service, le) "
                      f"(rate(http_request_duration_seconds_bucket[{WINDOW}])))", "service"),
}


def take_snapshot(api, now: float | None = None) -> dict:
    """One snapshot from ``api`` (a ``PrometheusAPI``); a query that fails leaves its
    figure empty rather than failing the snapshot."""
    snap: dict = {"t": round(now if now is not None else time.time(), 3)}
    for figure, (expr, label) in QUERIES.items():
        values = {}
        try:
            for sample in api.query(expr):
                key = sample.labels.get(label)
                if key and math.isfinite(sample.value):
                    values[key] = round(sample.value, 6)
        except Exception:  # noqa: BLE001 - the next second tries again
            values = {}
        snap[figure] = dict(sorted(values.items()))
    return snap


class MetricsFeed:
    """Snapshots every ``interval_s`` from ``api()`` (None while the drill starts) on one
    daemon thread, until ``stop()``."""

    def __init__(self, api: Callable[[], object | None], interval_s: float = 1.0,
                 history: int = HISTORY) -> None:
        self.api = api
        self.interval_s = interval_s
        self.snapshots: deque[dict] = deque(maxlen=history)
        self.taken = 0  # snapshots taken so far (a stream's position)
        self.watched_at: float | None = None  # monotonic time a stream last read
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-metrics", daemon=True)

    def start(self) -> MetricsFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def add(self, snap: dict) -> None:
        with self._lock:
            self.snapshots.append(snap)
            self.taken += 1

    def since(self, position: int) -> tuple[list[dict], int]:
        """The snapshots taken after ``position`` (those still kept), and the new position;
        a stream asking keeps the feed going."""
        with self._lock:
            self.watched_at = time.monotonic()
            new = min(self.taken - position, len(self.snapshots))
            return list(self.snapshots)[len(self.snapshots) - new:], self.taken

    def _run(self) -> None:
        while not self._stop.is_set():
            api = self.api()
            watched = self.watched_at is not None and \
                time.monotonic() - self.watched_at < IDLE_S
            if api is not None and watched:
                self.add(take_snapshot(api))
            self._stop.wait(self.interval_s)
