"""Recordings as resources: a path, else a name found in the roots, else a one-line error
listing the names available."""

import pytest

from gameday import resources
from gameday.errors import NotFoundError, ValidationError


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.delenv(resources.HOME_ENV, raising=False)
    monkeypatch.setattr(resources, "shipped_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_path_then_a_name_then_home_wins(cwd, tmp_path_factory, monkeypatch):
    (cwd / "recordings").mkdir()
    (cwd / "recordings" / "quiet.jsonl.gz").write_bytes(b"x")
    (cwd / "mine.jsonl.gz").write_bytes(b"y")
    assert resources.find_recording("mine.jsonl.gz").resolve() == (cwd / "mine.jsonl.gz").resolve()
    assert resources.find_recording("quiet") == cwd / "recordings" / "quiet.jsonl.gz"
    assert resources.find_recording("quiet.jsonl.gz").parent == cwd / "recordings"
    home = tmp_path_factory.mktemp("home")
    (home / "recordings").mkdir()
    (home / "recordings" / "quiet.jsonl.gz").write_bytes(b"z")
    monkeypatch.setenv(resources.HOME_ENV, str(home))
    assert resources.find_recording("quiet") == home / "recordings" / "quiet.jsonl.gz"
    assert list(resources.recording_names()) == ["quiet"]


def test_unknown_names_list_what_there_is(cwd):
    (cwd / "recordings").mkdir()
    for name in ("b-day", "a-quiet"):
        (cwd / "recordings" / f"{name}.jsonl.gz").write_bytes(b"x")
    with pytest.raises(NotFoundError) as err:
        resources.find_recording("nope")
    assert isinstance(err.value, ValidationError)
    assert "recording 'nope': no such file" in str(err.value)
    assert str(err.value).endswith("names available: a-quiet, b-day")
    with pytest.raises(NotFoundError, match="names available: a-quiet, b-day"):
        resources.find_recording("../recordings/a-quiet")
