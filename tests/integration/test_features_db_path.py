"""``features.db_path`` never destroys a file that is not ours: the feature store process
refuses (exit 2, one log line naming the path) to start on a user's file, a foreign SQLite
database or a stray -wal beside the path, reuses an earlier store of its own, and replaces
anything only with ``db_force``."""

from __future__ import annotations

import sqlite3

import pytest

from gameday_services.features.store import MARKER_TABLE, check_db_path, is_our_database
from tests.procs import ServiceProcess

ENV = {"FEATURES_LOAD_TIME_S": "0.1", "FEATURES_ENTITIES": "50"}


def start(path, log_dir, **extra) -> ServiceProcess:
    return ServiceProcess("features", env={**ENV, "FEATURES_DB_PATH": str(path), **extra},
                          log_dir=log_dir).start(wait_ready=False)


def refused(path, log_dir) -> str:
    proc = start(path, log_dir)
    try:
        assert proc.proc.wait(30) == 2
    finally:
        proc.stop()
    log = proc.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log
    return log


def foreign_sqlite(path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE accounts (name TEXT)")
        conn.execute("INSERT INTO accounts VALUES ('mine')")
    conn.close()


@pytest.mark.parametrize("kind", ["text", "foreign-sqlite", "empty", "stray-wal"])
def test_a_file_that_is_not_ours_is_refused_and_left_intact(tmp_path, kind):
    data, logs = tmp_path / "data", tmp_path / "logs"
    data.mkdir()
    logs.mkdir()
    path = data / "important.db"
    if kind == "text":
        path.write_text("precious user data\n")
        (data / "important.db-wal").write_text("also precious\n")
    elif kind == "foreign-sqlite":
        foreign_sqlite(path)
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        (data / "important.db-wal").write_text("someone's wal\n")
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    log = refused(path, logs)
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before
    if kind == "stray-wal":
        assert f"features.db_path: {path}-wal exists without {path}" in log, log
    else:
        assert f"cannot start features: features.db_path: {path} exists and is not a " \
               f"feature store gameday made" in log, log
    assert "features.db_force=true" in log


def test_our_own_store_is_reused_and_force_replaces_anything(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    path = tmp_path / "features.sqlite3"
    for _ in range(2):  # the second start finds the first one's store and recreates it
        with start(path, logs) as proc:
            proc.wait_ready()
        assert is_our_database(path)
    other = tmp_path / "other.db"
    foreign_sqlite(other)
    with start(other, logs, FEATURES_DB_FORCE="true") as proc:
        proc.wait_ready()
    assert is_our_database(other)
    conn = sqlite3.connect(other)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert MARKER_TABLE in tables and "accounts" not in tables


def test_our_store_left_by_a_killed_process_is_still_ours(tmp_path):
    path = tmp_path / "features.sqlite3"
    proc = start(path, tmp_path)
    try:
        proc.wait_ready()
        proc.proc.kill()  # SIGKILL: no checkpoint, the -wal and -shm stay
        proc.proc.wait(10)
    finally:
        proc.stop()
    assert is_our_database(path)
    with start(path, tmp_path) as again:
        again.wait_ready()


def test_check_db_path_messages(tmp_path):
    check_db_path(tmp_path / "new.db")  # nothing there: fine
    with pytest.raises(Exception, match=f"features.db_path: {tmp_path} is not a regular file"):
        check_db_path(tmp_path)
    with pytest.raises(Exception, match=f"features.db_path: {tmp_path} is a directory"):
        check_db_path(tmp_path, force=True)
    link = tmp_path / "link.db"
    link.symlink_to("/etc/passwd")
    with pytest.raises(Exception, match="is not a regular file"):
        check_db_path(link)
