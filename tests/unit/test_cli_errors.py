"""The CLI's error contract: one line on stderr, exit 2 for bad input, 1 otherwise."""

import json
import os
import time

import pytest
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.runfolder import create_run
from gameday.stack.state import ProcessState, StackState, write_state

runner = CliRunner()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args):
    return runner.invoke(app, list(args))


def assert_one_line_error(result, code, text):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert text in lines[0]


@pytest.mark.parametrize("args, text", [
    (["up", "--replicas", "clasifier=3"], "--replicas: unknown service 'clasifier'"),
    (["up", "--replicas", "classifier=x"], "got 'x' in 'classifier=x'"),
    (["up", "--set", "classifier.port=1"], "classifier.port is set by the stack itself"),
    (["up", "--set", "nonsense"], "--set: expected SERVICE.FIELD=VALUE, got 'nonsense'"),
    (["up", "--port-range", "8000-9000"], "--port-range: only 'auto' is supported"),
    (["up", "--memory-limit", "llm=huge"], "got 'huge'"),
    (["faults", "add", "classifier", "latency", "--ttl", "5x"],
     "--ttl: not a duration, got '5x'"),
    (["faults", "add", "classifier", "latency", "--ttl", "2h"], "--ttl: at most 1h"),
    (["faults", "add", "classifier", "latency", "--ttl", "5s", "--probability", "2"],
     "--probability: must be from 0 to 1, got 2.0"),
    (["faults", "add", "classifier", "latency", "--ttl", "5s", "--param", "x"],
     "--param: expected KEY=VALUE, got 'x'"),
    (["status", "--run", "../etc"], "--run: not a run id"),
])
def test_validation_errors_exit_2(args, text):
    assert_one_line_error(invoke(*args), 2, text)


def test_status_without_a_run_exits_1():
    assert_one_line_error(invoke("status"), 1, "no gameday run in")


def test_faults_without_a_run_exits_1():
    assert_one_line_error(invoke("faults", "list"), 1, "no gameday run in")


def test_down_with_nothing_running_is_fine():
    result = invoke("down")
    assert result.exit_code == 0
    assert "nothing to stop" in result.output


def test_port_in_use_is_a_stack_error(in_tmp):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        while s.getsockname()[1] > 60000:  # keep room for the other four ports
            s.close()
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = invoke("up", "--base-port", str(port), "--detach")
    assert_one_line_error(result, 1, f"port {port} for gateway-0 is already in use")


def stopped_state(run, pid=None, status="stopped"):
    now = time.time()
    return StackState(
        run_id=run.id, run_dir=str(run.path), supervisor_pid=pid or 2 ** 22 + 7, status=status,
        started_at=now, updated_at=now,
        processes=[ProcessState(name="gateway", replica=0, url="http://127.0.0.1:9",
                                port=9, state="stopped", restarts=2,
                                last_exit_reason="Stopped", last_exit_code=143)])


def test_status_and_down_of_a_stopped_run(in_tmp):
    run = create_run()
    write_state(run.state_path, stopped_state(run))
    result = invoke("status")
    assert result.exit_code == 0, result.output
    assert f"run {run.id}: stopped" in result.output and "gateway-0" in result.output
    data = json.loads(invoke("status", "--json").stdout)
    assert data["supervisor_alive"] is False
    assert data["processes"][0]["ready"] is False and data["processes"][0]["restarts"] == 2
    result = invoke("down")
    assert result.exit_code == 0 and f"nothing running: run {run.id} is stopped" in result.output


def test_status_of_a_run_whose_supervisor_died(in_tmp):
    run = create_run()
    write_state(run.state_path, stopped_state(run, status="running"))
    result = invoke("status")
    assert result.exit_code == 0
    assert "is gone" in result.output and "gone" in result.output


def test_up_refuses_a_second_stack_on_the_same_ports(in_tmp):
    from gameday.stack.registry import register_run

    run = register_run("up", ports=range(18080, 18085))
    write_state(run.state_path, stopped_state(run, pid=os.getpid(), status="running"))
    assert_one_line_error(invoke("up", "--base-port", "18082", "--detach"), 2,
                          f"ports 18082-18084 are taken by run {run.id} (gameday up, pid "
                          f"{os.getpid()}); stop it with 'gameday down --run {run.id}'")


def test_faults_types_offline_uses_the_catalogue():
    result = invoke("faults", "types", "classifier", "--json")
    assert result.exit_code == 0
    names = [t["type"] for t in json.loads(result.stdout)]
    assert "latency" in names and "bad_model" in names
    assert "stack not running" in result.stderr
