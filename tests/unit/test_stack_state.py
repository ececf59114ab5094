import os
import time

import pytest

from gameday.errors import NotFoundError, StackError
from gameday.stack.state import ProcessState, StackState, read_state, write_state


def make_state() -> StackState:
    now = time.time()
    return StackState(
        run_id="20261127-053012-ab12", run_dir="/tmp/run", supervisor_pid=os.getpid(),
        status="running", started_at=now, ready_at=now + 2, updated_at=now + 3,
        processes=[
            ProcessState(name="classifier", replica=r, url=f"http://127.0.0.1:{8082 + r}",
                         port=8082 + r, pid=1000 + r, state="ready", restarts=r,
                         last_exit_code=137 if r else None,
                         last_exit_reason="Killed (SIGKILL)" if r else None,
                         started_at=now, log=f"/tmp/run/logs/classifier-{r}.log")
            for r in range(2)
        ],
    )


def test_round_trip(tmp_path):
    path = tmp_path / "stack.json"
    state = make_state()
    write_state(path, state)
    assert read_state(path) == state
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"]  # no temp file left


def test_rewrite_replaces_whole_file(tmp_path):
    path = tmp_path / "stack.json"
    state = make_state()
    write_state(path, state)
    state.processes[1].restarts = 7
    state.status = "stopping"
    write_state(path, state)
    again = read_state(path)
    assert again.status == "stopping" and again.find("classifier", 1).restarts == 7


def test_find_names_what_exists():
    state = make_state()
    assert state.find("classifier", 1).id == "classifier-1"
    with pytest.raises(NotFoundError, match=r"no process llm-0 in run .*have: "
                                            r"classifier-0, classifier-1"):
        state.find("llm", 0)
    with pytest.raises(NotFoundError, match="no service 'llm'"):
        state.of_service("llm")
    assert state.urls() == {"classifier-0": "http://127.0.0.1:8082",
                            "classifier-1": "http://127.0.0.1:8083"}


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(NotFoundError, match="no stack state"):
        read_state(tmp_path / "stack.json")
    (tmp_path / "stack.json").write_text('{"run_id": 3}')
    with pytest.raises(StackError, match="unreadable stack state"):
        read_state(tmp_path / "stack.json")
