"""Scaling a running service: the supervisor adds or removes replicas, callers follow."""

from __future__ import annotations

import json

import httpx
import pytest

from gameday.errors import ValidationError
from gameday.stack import Stack, launch_detached, stop_stack
from gameday.stack.events import read_events
from gameday.stack.scale import scale_service
from gameday.stack.state import read_state
from tests.integration.test_stack import (
    cleanup,
    dummy_spec,
    gameday,
    needs_services,
    start_real_stack,
    wait_gone,
)


def test_scale_up_and_down_on_the_stand_in_service(tmp_path):
    run, state = launch_detached(dummy_spec(), home=tmp_path / ".gameday")
    try:
        procs = scale_service("alpha", 4, run=run)
        assert [p.id for p in procs] == ["alpha-0", "alpha-1", "alpha-2", "alpha-3"]
        assert all(httpx.get(p.url + "/readyz").status_code == 200 for p in procs)
        spec = json.loads(run.spec_path.read_text())
        assert next(s for s in spec["services"] if s["name"] == "alpha")["replicas"] == 4
        # beta calls alpha: restarted, it is given all four replicas
        from gameday.stack.control import request_restart

        request_restart("beta", 0, run)
        beta = read_state(run.state_path).find("beta", 0)
        env = httpx.get(beta.url + "/env").json()
        assert env["BETA_ALPHA_URLS"] == ",".join(p.url for p in procs)

        gone = [p.pid for p in procs[1:]]
        procs = scale_service("alpha", 1, run=run)
        assert [p.id for p in procs] == ["alpha-0"]
        assert wait_gone(gone, 5) == []
        kinds = [e["event"] for e in read_events(run.supervisor_log)]
        assert kinds.count("scaled") == 2
        with pytest.raises(ValidationError, match="alpha replicas must be from 1 to 4, got 5"):
            scale_service("alpha", 5, run=run)
        with pytest.raises(ValidationError, match="no service 'gamma'"):
            scale_service("gamma", 1, run=run)
    finally:
        stop_stack(run)
    assert [p.id for p in read_state(run.state_path).processes] == ["alpha-0", "beta-0"]


def test_in_process_stack_scales_too(tmp_path):
    with Stack(dummy_spec(), home=tmp_path / ".gameday") as stack:
        scale_service("alpha", 3, run=stack.run)
        assert [p.id for p in stack.state().processes] == \
            ["alpha-0", "alpha-1", "alpha-2", "beta-0"]


@needs_services
def test_gameday_scale_puts_new_classifier_replicas_behind_the_gateway(tmp_path):
    data, _ = start_real_stack(tmp_path)
    try:
        result = gameday(tmp_path, "scale", "classifier", "3")
        assert result.returncode == 0, result.stderr
        assert "3 ready replica(s)" in result.stdout
        state = json.loads(gameday(tmp_path, "status", "--json").stdout)
        classifiers = [p["url"] for p in state["processes"] if p["name"] == "classifier"]
        assert len(classifiers) == 3
        gateway = next(p["url"] for p in state["processes"] if p["name"] == "gateway")
        answered = set()
        for i in range(60):
            body = httpx.post(gateway + "/v1/classify", json={"entity_id": f"e{i:04d}"}).json()
            answered.add(body["replica"])
        assert classifiers[2] in answered  # the new replica takes traffic

        result = gameday(tmp_path, "scale", "classifier", "9")
        assert result.returncode == 2
        assert "classifier replicas must be from 1 to 8, got 9" in result.stderr

        result = gameday(tmp_path, "scale", "classifier", "1")
        assert result.returncode == 0, result.stderr
        for i in range(20):
            body = httpx.post(gateway + "/v1/classify", json={"entity_id": f"e{i:04d}"}).json()
            assert body["replica"] == classifiers[0] and not body["degraded"]
    finally:
        cleanup(tmp_path, json.loads(gameday(tmp_path, "status", "--json").stdout))
