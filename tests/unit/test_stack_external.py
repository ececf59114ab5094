"""Stack files (`gameday drill run --stack-file`): checked first, and what an external
stack cannot do is refused with a message that says what to use instead."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.drill.api import IncidentServer
from gameday.errors import StackError, ValidationError
from gameday.runfolder import create_run
from gameday.stack.control import request_restart, signal_process, stop_stack
from gameday.stack.external import build_state, load_stack_file, read_token
from gameday.stack.scale import scale_service
from gameday.stack.state import write_state

runner = CliRunner()
GOOD = """services:
  gateway: ["http://gateway:8080"]
  classifier: ["http://classifier-0:8082", "http://classifier-1:8083/"]
admin_token_file: {token}
prometheus_url: http://prometheus:9090
"""


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text("s3cret-token\n")
    return path


def test_a_good_stack_file_gives_one_process_per_url(tmp_path, token_file):
    path = tmp_path / "stack.yaml"
    path.write_text(GOOD.format(token=token_file))
    stack = load_stack_file(path)
    assert stack.services["classifier"] == ["http://classifier-0:8082",
                                            "http://classifier-1:8083"]
    assert read_token(stack, path) == "s3cret-token"
    run = create_run(tmp_path / ".gameday")
    state = build_state(stack, run)
    assert state.external and state.query_url == "http://prometheus:9090"
    assert [(p.id, p.port) for p in state.processes] == [
        ("gateway-0", 8080), ("classifier-0", 8082), ("classifier-1", 8083)]


@pytest.mark.parametrize("text, expected", [
    ("services: {}", "services: Dictionary should have at least 1 item"),
    ("services:\n  gateway: ['gateway:8080']",
     "services: Value error, expected an http(s) URL, got 'gateway:8080'"),
    ("services:\n  gateway: []", "services: Value error, service 'gateway' has no URL"),
    ("services:\n  gateway: ['http://g:1']\nprometheus: x",
     "prometheus: Extra inputs are not permitted, got 'x'"),
    ("services:\n  gateway: ['http://g:1']\nprometheus_url: localhost:9090",
     "prometheus_url: Value error, expected an http(s) URL, got 'localhost:9090'"),
    ("- a list", "expected a mapping with 'services', got list"),
    ("services: [", "not valid YAML"),
])
def test_bad_stack_files_name_the_file_field_and_value(tmp_path, text, expected):
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError) as err:
        load_stack_file(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_a_bad_stack_file_stops_the_drill_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stack.yaml").write_text("services:\n  gateway: ['ftp://x']\n")
    result = runner.invoke(app, ["drill", "run", "xid-error-burst", "--auto",
                                 "--stack-file", "stack.yaml"])
    assert result.exit_code == 2, result.output
    assert "stack.yaml: services: Value error, expected an http(s) URL, got 'ftp://x'" \
        in result.stderr
    assert not (tmp_path / ".gameday").exists()  # nothing written


@pytest.mark.parametrize("args, text", [
    (["--webhook-listen", "9095"], "--webhook-listen: expected HOST:PORT, got '9095'"),
    (["--prometheus-url", "prometheus:9090"],
     "--prometheus-url: expected an http(s) URL, got 'prometheus:9090'"),
    (["--stack-file", "s.yaml", "--attach", "x"], "do not go together"),
])
def test_bad_external_options_exit_2(tmp_path, monkeypatch, args, text):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["drill", "run", "xid-error-burst", "--auto", *args])
    assert result.exit_code == 2, result.output
    assert text in result.stderr


def test_a_missing_token_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("GAMEDAY_ADMIN_TOKEN", raising=False)
    path = tmp_path / "stack.yaml"
    path.write_text("services:\n  gateway: ['http://g:1']\n")
    with pytest.raises(ValidationError, match="no admin_token_file, and \\$GAMEDAY_ADMIN"):
        read_token(load_stack_file(path), path)
    path.write_text(f"services:\n  gateway: ['http://g:1']\nadmin_token_file: {tmp_path}/no")
    with pytest.raises(ValidationError, match="admin_token_file: cannot read"):
        read_token(load_stack_file(path), path)


def test_what_needs_the_supervisor_is_refused_on_an_external_stack(tmp_path, token_file):
    path = tmp_path / "stack.yaml"
    path.write_text(GOOD.format(token=token_file))
    run = create_run(tmp_path / ".gameday")
    state = build_state(load_stack_file(path), run)
    state.status = "running"  # this process stands in for the supervisor
    write_state(run.state_path, state)
    assert state.supervisor_pid == os.getpid()
    for call in (lambda: signal_process("classifier", 0, "SIGKILL", run),
                 lambda: request_restart("gateway", 0, run),
                 lambda: scale_service("classifier", 3, run),
                 lambda: stop_stack(run)):
        with pytest.raises(StackError, match="runs outside gameday \\(--stack-file\\); "
                                             "gameday cannot signal, restart, scale or stop"):
            call()


def test_the_webhook_needs_the_token_when_listening_beyond_loopback():
    got = []
    body = {"version": "4", "status": "firing", "alerts": []}
    server = IncidentServer("s3cret", lambda a, b: (200, {}),
                            lambda b: (got.append(b) or (200, {"ok": True})),
                            host="0.0.0.0", port=0).start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.post(server.url + "/alerts", json=body).status_code == 401
        ok = httpx.post(server.url + "/alerts", json=body,
                        headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and got == [body]
    finally:
        server.stop()
    local = IncidentServer("s3cret", lambda a, b: (200, {}), lambda b: (200, {"ok": True}),
                           ).start()
    try:
        assert httpx.post(local.url + "/alerts", content=json.dumps(body)).status_code == 200
    finally:
        local.stop()
