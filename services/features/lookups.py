"""Lookups as the routes see them: store queries with the store's faults and metrics applied.

The two store faults act here, inside the store's query path: ``slow_store`` makes every
query take ``delay_ms`` longer (holding its connection, as a slow disk would), and
``stale_store`` serves values as they were ``age_s`` ago.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from gameday.faults import FaultStore
from gameday_services.features.metrics import FeatureMetrics
from gameday_services.features.store import FeatureRow, FeatureStore


@dataclass(frozen=True)
class StoreConditions:
    delay_s: float = 0.0
    age_s: float | None = None


def read_conditions(faults: FaultStore, path: str) -> StoreConditions:
    """The slow/stale conditions active for a request on ``path`` (each fault rolls once)."""
    delay_s, age_s = 0.0, None
    for fault in faults.active("slow_store", path):
        if fault.roll():
            delay_s += fault.params["delay_ms"] / 1000.0
    stale = faults.first("stale_store", path)
    if stale is not None and stale.roll():
        age_s = float(stale.params["age_s"])
    return StoreConditions(delay_s, age_s)


class FeatureLookup:
    def __init__(self, store: FeatureStore, metrics: FeatureMetrics, faults: FaultStore) -> None:
        self.store = store
        self.metrics = metrics
        self.faults = faults

    async def features(self, entity_id: str, path: str) -> tuple[FeatureRow | None, bool]:
        """The entity's row (None if unknown) and whether it is stale."""
        cond = read_conditions(self.faults, path)
        as_of = None if cond.age_s is None else time.time() - cond.age_s
        row = await self._query(self.store.read_features, entity_id, as_of=as_of,
                                delay_s=cond.delay_s)
        if row is not None:
            self.metrics.staleness.observe(max(0.0, time.time() - row.updated_at))
        return row, as_of is not None

    async def label(self, entity_id: str, path: str) -> int | None:
        cond = read_conditions(self.faults, path)
        return await self._query(self.store.read_label, entity_id, delay_s=cond.delay_s)

    async def _query(self, fn, entity_id: str, **kwargs):
        start = time.perf_counter()
        try:
            result = await self.store.run(fn, entity_id, **kwargs)
        except sqlite3.Error:
            self.metrics.queries.labels("error").inc()
            raise
        finally:
            self.metrics.query_duration.observe(time.perf_counter() - start)
        self.metrics.queries.labels("miss" if result is None else "hit").inc()
        return result
