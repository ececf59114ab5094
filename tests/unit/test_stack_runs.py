import re
import stat

import pytest

from gameday.errors import NotFoundError, ValidationError
from gameday.stack.runs import create_run, find_run, new_run_id, resolve_run


def test_run_id_is_utc_stamp_plus_random():
    assert new_run_id(0).startswith("19700101-000000-")
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", new_run_id())


def test_create_run_layout_and_token_mode(tmp_path):
    home = tmp_path / ".gameday"
    run = create_run(home)
    assert run.path.parent == home / "runs"
    for d in (run.logs_dir, run.faults_dir, run.control_dir):
        assert d.is_dir()
    mode = stat.S_IMODE(run.token_path.stat().st_mode)
    assert mode == 0o600
    assert len(run.token()) >= 32
    assert (home / "current").read_text().strip() == run.id
    assert run.log_path("classifier", 1) == run.logs_dir / "classifier-1.log"
    assert run.faults_path("llm", 0) == run.faults_dir / "llm-0.json"


def test_token_file_mode_stays_0600_with_a_loose_umask(tmp_path):
    import os

    old = os.umask(0)
    try:
        run = create_run(tmp_path / ".gameday")
    finally:
        os.umask(old)
    assert stat.S_IMODE(run.token_path.stat().st_mode) == 0o600


def test_find_current_and_by_id(tmp_path):
    home = tmp_path / ".gameday"
    first = create_run(home)
    second = create_run(home)
    assert find_run(home=home) == second
    assert find_run(first.id, home=home) == first
    assert resolve_run(first.path) == first
    assert resolve_run(first) == first


def test_find_errors_name_what_is_missing(tmp_path):
    home = tmp_path / ".gameday"
    with pytest.raises(NotFoundError, match=r"no gameday run in .*start one with 'gameday up'"):
        find_run(home=home)
    create_run(home)
    with pytest.raises(NotFoundError, match="run '20990101-000000-ffff' not found"):
        find_run("20990101-000000-ffff", home=home)
    with pytest.raises(ValidationError, match=r"--run: not a run id, got '\.\./x'"):
        find_run("../x", home=home)


def test_gameday_run_env_names_the_run(tmp_path, monkeypatch):
    from gameday.stack.runs import resolve_run

    folder = tmp_path / "somewhere" / "20261127-000000-abcd"
    folder.mkdir(parents=True)
    monkeypatch.setenv("GAMEDAY_RUN", str(folder))
    assert resolve_run().path == folder
    assert resolve_run(str(folder)).path == folder  # a path given as text
    monkeypatch.delenv("GAMEDAY_RUN")
    import pytest as _pytest

    from gameday.errors import NotFoundError
    with _pytest.raises(NotFoundError):
        resolve_run(None, home=tmp_path / "nothing")
