"""The SQLite feature store: seeding, point-in-time reads, and the periodic refresh.

One table holds, per entity, its seeded base values, its current values (rewritten by the
refresh) and when they were last written. A read "as of" an earlier time rebuilds the values
of then from the base values and the drift, as a point-in-time lookup in a feature store does.

Queries run on a small pool of threads, each with its own connection (WAL mode, so reads
go on while the refresh writes); the asyncio loop never waits on SQLite.

Seeding recreates the file, so it first proves the file is ours (:func:`check_db_path`): a
SQLite database with the ``gameday_feature_store`` marker table that seeding writes. Any
other file at the path (or a stray ``-wal``/``-shm``/``-journal`` beside it) is refused,
naming the path, unless ``force`` is given.
"""

from __future__ import annotations

import asyncio
import functools
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gameday.errors import ValidationError
from gameday_services.features.drift import drift

N_FEATURES = 8
FEATURE_NAMES = tuple(f"f{j}" for j in range(N_FEATURES))
MakeEntity = Callable[[int, int], tuple[list[float], int]]

_BASE = ", ".join(f"b{j} REAL NOT NULL" for j in range(N_FEATURES))
_CURRENT = ", ".join(f"f{j} REAL NOT NULL" for j in range(N_FEATURES))
MARKER_TABLE = "gameday_feature_store"
MARKER = ("made_by", "gameday services.features")
SIDECARS = ("-wal", "-shm", "-journal")
SQLITE_HEADER = b"SQLite format 3\x00"
SCHEMA = f"""
CREATE TABLE {MARKER_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO {MARKER_TABLE} VALUES ('{MARKER[0]}', '{MARKER[1]}');
CREATE TABLE entity_features (
    entity_id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    label INTEGER NOT NULL,
    {_BASE},
    {_CURRENT},
    updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE feature_stats (
    feature INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    mean REAL NOT NULL,
    std REAL NOT NULL
);
"""
_DRIFTED = ", ".join(f"b{j} + drift(idx, {j}, :t)" for j in range(N_FEATURES))
_INSERT = (f"INSERT INTO entity_features VALUES (?, ?, ?, {', '.join('?' * N_FEATURES)}, "
           f"{', '.join('?' * N_FEATURES)}, ?)")
_REFRESH = ("UPDATE entity_features SET "
            + ", ".join(f"f{j} = b{j} + drift(idx, {j}, :t)" for j in range(N_FEATURES))
            + ", updated_at = :t")
_READ_CURRENT = (f"SELECT {', '.join(FEATURE_NAMES)}, updated_at FROM entity_features "
                 "WHERE entity_id = :id")
_READ_AS_OF = f"SELECT {_DRIFTED}, :t FROM entity_features WHERE entity_id = :id"
_READ_LABEL = "SELECT label FROM entity_features WHERE entity_id = :id"


@dataclass(frozen=True)
class FeatureRow:
    entity_id: str
    features: list[float]
    updated_at: float


def entity_id_width(entities: int) -> int:
    """Digits in entity ids: e0000..e0999 for 1000 entities, wider past 10000."""
    return max(4, len(str(max(entities - 1, 0))))


def format_entity_id(index: int, width: int = 4) -> str:
    return f"e{index:0{width}d}"


def is_our_database(path: Path) -> bool:
    """True when ``path`` is a SQLite file holding the marker row seeding writes."""
    try:
        with open(path, "rb") as fh:
            if fh.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                return False
    except OSError:
        return False
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute(f"SELECT value FROM {MARKER_TABLE} WHERE key = ?",
                           (MARKER[0],)).fetchone()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return row is not None and row[0] == MARKER[1]


def check_db_path(path: str | Path, force: bool = False) -> None:
    """Raise ValidationError unless seeding may delete and recreate ``path``: nothing is
    there, or an earlier feature store is, or ``force``. Names the path and the remedy."""
    path = Path(path)
    if force:
        if path.is_dir() and not path.is_symlink():
            raise ValidationError(f"features.db_path: {path} is a directory; give a file path")
        return
    remedy = ("choose another path, or set features.db_force=true to replace it")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ValidationError(f"features.db_path: {path} is not a regular file; {remedy}")
    if path.exists():
        if not is_our_database(path):
            raise ValidationError(f"features.db_path: {path} exists and is not a feature "
                                  f"store gameday made (no {MARKER_TABLE} table); {remedy}")
        return
    for suffix in SIDECARS:
        sidecar = Path(f"{path}{suffix}")
        if sidecar.exists() or sidecar.is_symlink():
            raise ValidationError(f"features.db_path: {sidecar} exists without {path}, so "
                                  f"it is not ours to delete; {remedy}")


class FeatureStore:
    """Feature vectors and labels in a SQLite file, with a pool of reader threads."""

    def __init__(self, path: str | Path | None = None, pool_size: int = 4,
                 drift_ratio: float = 0.05, drift_period_s: float = 7200.0,
                 force: bool = False) -> None:
        self.path = Path(path) if path else None  # set before seeding
        self.force = force  # replace whatever is at path (see check_db_path)
        self.drift_ratio = drift_ratio
        self.drift_period_s = drift_period_s
        self.amplitudes = [0.0] * N_FEATURES
        self.count = 0
        self.id_width = 4
        self._pool = ThreadPoolExecutor(pool_size, thread_name_prefix="features-db")
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()

    # -- connections ------------------------------------------------------------------
    def _drift_sql(self, idx: int, feature: int, t: float) -> float:
        return drift(idx, feature, t, self.amplitudes[feature], self.drift_period_s)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.create_function("drift", 3, self._drift_sql, deterministic=True)
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    async def run(self, fn: Callable, *args, **kwargs):
        """Run a blocking store method on the pool, keeping the event loop free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    # -- writes -----------------------------------------------------------------------
    def seed(self, entities: int, seed: int, make_entity: MakeEntity,
             now: float | None = None) -> int:
        """Recreate the database file and fill it with ``entities`` rows from the dataset;
        ValidationError when the file there is not provably ours (see check_db_path)."""
        now = time.time() if now is None else now
        check_db_path(self.path, self.force)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", *SIDECARS):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.id_width = entity_id_width(entities)
        rows = []
        for i in range(entities):
            values, label = make_entity(i, seed)
            values = [float(v) for v in values]
            if len(values) != N_FEATURES:
                raise ValidationError(f"make_entity({i}, {seed}): expected {N_FEATURES} "
                                      f"features, got {len(values)}")
            rows.append((format_entity_id(i, self.id_width), i, int(label), *values))
        self.amplitudes = [self.drift_ratio * s for s in _stds(rows)]
        full = [(*r, *(r[3 + j] + self._drift_sql(r[1], j, now) for j in range(N_FEATURES)), now)
                for r in rows]
        conn = self._connection()
        with conn:
            conn.executescript(SCHEMA)
        with conn:
            conn.executemany(_INSERT, full)
            conn.executemany(
                "INSERT INTO feature_stats VALUES (?, ?, ?, ?)",
                [(j, FEATURE_NAMES[j], _mean([r[3 + j] for r in rows]),
                  self.amplitudes[j] / self.drift_ratio if self.drift_ratio else 0.0)
                 for j in range(N_FEATURES)])
        self.count = entities
        return entities

    def refresh(self, now: float | None = None) -> int:
        """Rewrite every entity's current values as of ``now``; returns rows written."""
        now = time.time() if now is None else now
        conn = self._connection()
        with conn:
            return conn.execute(_REFRESH, {"t": now}).rowcount

    # -- reads ------------------------------------------------------------------------
    def read_features(self, entity_id: str, as_of: float | None = None,
                      delay_s: float = 0.0) -> FeatureRow | None:
        """The entity's current values, or those of time ``as_of`` (a point-in-time read)."""
        if delay_s > 0:
            time.sleep(delay_s)
        conn = self._connection()
        if as_of is None:
            row = conn.execute(_READ_CURRENT, {"id": entity_id}).fetchone()
        else:
            row = conn.execute(_READ_AS_OF, {"id": entity_id, "t": as_of}).fetchone()
        if row is None:
            return None
        return FeatureRow(entity_id, [round(float(v), 4) for v in row[:N_FEATURES]],
                          float(row[-1]))

    def read_label(self, entity_id: str, delay_s: float = 0.0) -> int | None:
        if delay_s > 0:
            time.sleep(delay_s)
        row = self._connection().execute(_READ_LABEL, {"id": entity_id}).fetchone()
        return None if row is None else int(row[0])

    def count_rows(self) -> int:
        return self._connection().execute("SELECT count(*) FROM entity_features").fetchone()[0]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _stds(rows: list[tuple]) -> list[float]:
    stds = []
    for j in range(N_FEATURES):
        col = [r[3 + j] for r in rows]
        m = _mean(col)
        stds.append(math.sqrt(sum((v - m) ** 2 for v in col) / len(col)) if col else 0.0)
    return stds
