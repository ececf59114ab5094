"""`gameday drill run --stack-file`: a drill against services gameday did not start.

What docker-compose.yml's `gameday` service does, on loopback: a stack started elsewhere
(here by `gameday up` in another folder, with its own real Prometheus) is described by a
stack file; the drill attaches to it, reads SLOs and alerts from that Prometheus
(--prometheus-url), listens for Alertmanager on a fixed address (--webhook-listen), and
writes the usual run folder."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import require_binary
from tests.e2e.test_drill import FIXTURE, gameday, in_order, kinds, run_folder
from tests.procs import free_port


@pytest.fixture
def elsewhere(tmp_path):
    """A stack with real Prometheus, started by another `gameday up` in another folder."""
    require_binary("prometheus")
    home = tmp_path / "elsewhere"
    home.mkdir()
    gameday(home, "up", "-d", "--free-ports", "--prometheus", timeout=90)
    try:
        yield run_folder(home)
    finally:
        gameday(home, "down", timeout=60, check=False)


@pytest.mark.slow
def test_a_drill_attaches_to_a_stack_it_did_not_start(tmp_path, elsewhere):
    state = json.loads((elsewhere / "stack.json").read_text())
    services: dict[str, list[str]] = {}
    for p in state["processes"]:
        services.setdefault(p["name"], []).append(p["url"])
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(yaml.safe_dump({
        "services": services, "admin_token_file": str(elsewhere / "token"),
        "prometheus_url": state["prometheus_url"]}))
    here = tmp_path / "here"
    here.mkdir()
    port = free_port()
    gameday(here, "drill", "run", str(FIXTURE), "--auto", "--stack-file", str(stack_file),
            "--prometheus-url", state["prometheus_url"], "--webhook-listen", f"127.0.0.1:{port}",
            timeout=300)
    run = run_folder(here)
    seen = kinds(run)
    assert in_order(seen, ["steady_state", "fault_start", "page", "ack", "mitigation",
                           "recovered", "run_end"]), seen
    attached = json.loads((run / "stack.json").read_text())
    assert attached["external"] is True and attached["status"] == "stopped"
    assert attached["prometheus_url"] == state["prometheus_url"]
    assert {p["url"] for p in attached["processes"]} == {p["url"] for p in state["processes"]}
    drill = json.loads((run / "drill.json").read_text())
    assert drill["controller_url"] == f"http://127.0.0.1:{port}"
    score = json.loads((run / "score.json").read_text())
    assert score["verdict"]["result"] == "pass", score["verdict"]
    assert (run / "recording.jsonl.gz").stat().st_size > 0  # the report has its metrics
    assert (run / "token").stat().st_mode & 0o077 == 0
    # the stack it attached to is untouched and still running
    after = json.loads((elsewhere / "stack.json").read_text())
    assert after["status"] == "running"
    listed = json.loads(gameday(elsewhere.parent.parent.parent, "faults", "list",
                                "--json").stdout)
    assert listed and all(p["faults"] == [] for p in listed), listed  # nothing left behind
