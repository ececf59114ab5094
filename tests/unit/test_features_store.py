"""The SQLite feature store on its own: seeding, determinism, point-in-time reads, refresh."""

import sqlite3

import pytest

from gameday.errors import ValidationError
from gameday_services.classifier.dataset import make_entity
from gameday_services.features.store import (
    FEATURE_NAMES,
    FeatureStore,
    entity_id_width,
    format_entity_id,
)

NOW = 1_800_000_000.0


def seeded(path, entities=50, seed=0, **kwargs) -> FeatureStore:
    store = FeatureStore(path, pool_size=1, **kwargs)
    store.seed(entities, seed, make_entity, now=NOW)
    return store


def rows(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM entity_features ORDER BY entity_id").fetchall()


def test_seeding_is_a_real_sqlite_file_with_one_row_per_entity(tmp_path):
    store = seeded(tmp_path / "f.db", entities=30)
    try:
        assert (tmp_path / "f.db").read_bytes()[:16] == b"SQLite format 3\x00"
        assert store.count_rows() == 30
        ids = [r[0] for r in rows(tmp_path / "f.db")]
        assert ids[0] == "e0000" and ids[-1] == "e0029"
    finally:
        store.close()


def test_two_fresh_databases_seeded_alike_hold_the_same_values(tmp_path):
    a, b = seeded(tmp_path / "a.db"), seeded(tmp_path / "b.db")
    try:
        assert rows(tmp_path / "a.db") == rows(tmp_path / "b.db")
        assert a.read_features("e0007") == b.read_features("e0007")
    finally:
        a.close()
        b.close()


def test_another_seed_gives_other_entities(tmp_path):
    a, b = seeded(tmp_path / "a.db", seed=0), seeded(tmp_path / "b.db", seed=5)
    try:
        assert a.read_features("e0003").features != b.read_features("e0003").features
    finally:
        a.close()
        b.close()


def test_reseeding_recreates_the_file(tmp_path):
    path = tmp_path / "f.db"
    seeded(path, entities=40).close()
    store = seeded(path, entities=10)
    try:
        assert store.count_rows() == 10
    finally:
        store.close()


def test_base_values_and_labels_come_from_the_dataset(tmp_path):
    store = seeded(tmp_path / "f.db", drift_ratio=0.0)
    try:
        values, label = make_entity(12, 0)
        row = store.read_features("e0012")
        assert row.features == pytest.approx(values, abs=1e-4)
        assert len(row.features) == len(FEATURE_NAMES) == 8
        assert row.updated_at == NOW
        assert store.read_label("e0012") == label
    finally:
        store.close()


def test_unknown_entity_reads_as_none(tmp_path):
    store = seeded(tmp_path / "f.db")
    try:
        assert store.read_features("e9999") is None
        assert store.read_label("nope") is None
    finally:
        store.close()


def test_values_drift_slowly_so_an_old_snapshot_differs(tmp_path):
    store = seeded(tmp_path / "f.db")
    try:
        current = store.read_features("e0001")
        hour_ago = store.read_features("e0001", as_of=NOW - 3600)
        assert hour_ago.updated_at == NOW - 3600
        assert hour_ago.features != current.features
        # Small drift: the old snapshot stays close to today's values.
        assert max(abs(x - y) for x, y in zip(current.features, hour_ago.features,
                                              strict=True)) < 0.5
        # A point-in-time read at the time of the last write gives what was written.
        assert store.read_features("e0001", as_of=NOW).features == current.features
    finally:
        store.close()


def test_refresh_rewrites_current_values(tmp_path):
    store = seeded(tmp_path / "f.db", entities=20)
    try:
        before = store.read_features("e0002")
        assert store.refresh(now=NOW + 600) == 20
        after = store.read_features("e0002")
        assert after.updated_at == NOW + 600
        assert after.features != before.features
    finally:
        store.close()


def test_a_dataset_with_the_wrong_width_is_refused(tmp_path):
    store = FeatureStore(tmp_path / "f.db", pool_size=1)
    try:
        with pytest.raises(ValidationError, match="expected 8 features, got 3"):
            store.seed(5, 0, lambda i, seed: ([1.0, 2.0, 3.0], 0))
    finally:
        store.close()


def test_entity_ids_widen_past_ten_thousand():
    assert entity_id_width(1000) == 4
    assert entity_id_width(10_000) == 4
    assert entity_id_width(10_001) == 5
    assert format_entity_id(42) == "e0042"
    assert format_entity_id(42, 6) == "e000042"
