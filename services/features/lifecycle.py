"""Start and stop: seed the store in the background, keep values fresh, report readiness."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

from gameday_services.common.health import Readiness
from gameday_services.features.metrics import FeatureMetrics
from gameday_services.features.settings import Settings
from gameday_services.features.store import FeatureStore, MakeEntity

log = logging.getLogger("services.features")


def resolve_db_path(db_path: str | None) -> tuple[Path, Path | None]:
    """The database file, and a temporary folder to remove at shutdown when we made one."""
    if db_path:
        return Path(db_path), None
    folder = Path(tempfile.mkdtemp(prefix="gameday-features-"))
    return folder / "features.sqlite3", folder


def import_make_entity() -> MakeEntity:
    """The dataset generator shared with the classifier, so labels match its model."""
    from gameday_services.classifier.dataset import make_entity

    return make_entity


async def seed_store(store: FeatureStore, settings: Settings, metrics: FeatureMetrics,
                     readiness: Readiness) -> None:
    await asyncio.sleep(settings.load_time_s)
    start = time.perf_counter()
    try:
        make_entity = import_make_entity()
        n = await store.run(store.seed, settings.entities, settings.seed, make_entity)
    except Exception as err:
        readiness.reason = f"seeding failed: {err}"
        log.exception("seeding the feature store failed", extra={"db_path": str(store.path)})
        return
    metrics.entities.set(n)
    metrics.last_refresh.set(time.time())
    readiness.ready, readiness.reason = True, ""
    log.info("feature store seeded", extra={"entities": n, "db_path": str(store.path),
                                            "seconds": round(time.perf_counter() - start, 3)})


async def refresh_forever(store: FeatureStore, settings: Settings, metrics: FeatureMetrics,
                          readiness: Readiness) -> None:
    while True:
        await asyncio.sleep(settings.refresh_interval_s)
        if not readiness.ready:
            continue
        try:
            await store.run(store.refresh)
            metrics.last_refresh.set(time.time())
        except Exception:  # keep refreshing; a failed round leaves values older
            log.exception("feature refresh failed")


def build_lifespan(store: FeatureStore, settings: Settings, metrics: FeatureMetrics,
                   readiness: Readiness):
    @asynccontextmanager
    async def lifespan(app):
        store.path, temp_dir = resolve_db_path(settings.db_path)
        tasks = [asyncio.create_task(seed_store(store, settings, metrics, readiness)),
                 asyncio.create_task(refresh_forever(store, settings, metrics, readiness))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(store.close)
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)

    return lifespan
