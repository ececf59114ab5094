"""The facilitator's view of the fault and the pause, against a real service on loopback:
/facilitator/state shows the fault the service really holds (type, remaining TTL), and a
pause gives the fault back the time paused, so it does not heal on its own meanwhile."""

from __future__ import annotations

import time

import httpx

from gameday.drill.api import FACILITATOR, Caller
from gameday.drill.scenario import parse_scenario
from gameday.runfolder import create_run
from gameday.stack.state import ProcessState, StackState, write_state
from tests.procs import TEST_TOKEN, ServiceProcess, auth
from tests.unit.test_drill_api_roles import FakeDrill
from tests.unit.test_drill_parts import write_experiment


def faults(url: str) -> list[dict]:
    return httpx.get(f"{url}/admin/faults", headers=auth(), timeout=5).json()["faults"]


def test_the_fault_state_is_real_and_a_pause_moves_its_ttl(tmp_path):
    run = create_run(tmp_path / ".gameday", make_current=False)
    run.token_path.write_text(TEST_TOKEN)
    scenario = parse_scenario(write_experiment(tmp_path / "exp"))
    with ServiceProcess("features") as svc:
        now = time.time()
        write_state(run.state_path, StackState(
            run_id=run.id, run_dir=str(run.path), supervisor_pid=1, status="running",
            started_at=now, updated_at=now, processes=[ProcessState(
                name="features", replica=0, url=svc.url, port=svc.port, state="ready")]))
        resp = httpx.post(f"{svc.url}/admin/faults", headers=auth(), timeout=5, json={
            "type": "error", "params": {"status": 503}, "route": "/v1/*", "ttl_s": 60})
        assert resp.status_code == 201, resp.text
        drill = FakeDrill(tmp_path, scenario)
        drill.run_path = run.path
        fac = Caller(FACILITATOR)

        status, state = drill.facilitation.handle("state", {}, fac)
        assert status == 200
        [active] = state["fault"]["active"]
        assert active["process"] == "features-0" and active["type"] == "error"
        assert 55 <= active["remaining_ttl_s"] <= 60
        before = faults(svc.url)[0]

        assert drill.facilitation.handle("pause", {"who": "fay"}, fac)[0] == 200
        time.sleep(2.0)
        status, body = drill.facilitation.handle("resume", {"who": "fay"}, fac)
        assert status == 200 and body["paused_s"] >= 2.0
        [after] = faults(svc.url)
        assert after["id"] != before["id"]  # re-added with the time back, the old one gone
        assert (after["type"], after["params"], after["route"]) == \
            (before["type"], before["params"], before["route"])
        gained = after["expires_at"] - before["expires_at"]
        assert 2.0 <= gained <= body["paused_s"] + 0.5, gained
        state = drill.facilitation.handle("state", {}, fac)[1]
        assert [f["id"] for f in state["fault"]["active"]] == [after["id"]]
    # a service that does not answer is named, and the state still answers
    drill.facilitation._fault_cache = None
    status, state = drill.facilitation.handle("state", {}, fac)
    assert status == 200 and state["fault"]["active"] == []
    assert [u["process"] for u in state["fault"]["unreachable"]] == ["features-0"]
