"""bench/refusal_cost.py on the live stack: the gateway's one slot held, nearly every
request of a short open-loop run is refused from its head, both sides' CPU per refusal is
measured, and the stack is left as it was found (no fault on the feature store, the
gateway's timeouts back)."""

from __future__ import annotations

import httpx
import pytest

from gameday.stack.local import Stack
from gameday.stack.spec import build_spec
from tests.unit.test_bench_smoke import load


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("refusal") / ".gameday"
    with Stack(build_spec(free_ports=True), home=home) as st:
        yield st


def test_a_held_slot_refuses_every_request_and_both_sides_cpu_is_measured(stack):
    rc, bo = load("refusal_cost"), load("bench_overload")
    gateway, auth = stack.url("gateway"), {"Authorization": f"Bearer {stack.token}"}
    before = httpx.get(f"{gateway}/admin/policy", headers=auth).json()["timeouts"]
    cost = rc.measure_refusal(stack, stack.token, 400.0, bo.run_driver, seconds=1.0)
    assert cost["answers"] == 400
    assert cost["refused"] >= 390  # the held request, at most, and a few before it held
    assert 0 < cost["gateway_ms"] < 5 and 0 < cost["generator_ms"] < 5
    # nothing left behind but the admission, which the caller sets
    faults = httpx.get(f"{stack.url('features')}/admin/faults", headers=auth).json()
    assert faults == {"faults": []}
    assert httpx.get(f"{gateway}/admin/policy", headers=auth).json()["timeouts"] == before
    bo.set_admission(gateway, stack.token, {"max_in_flight": 256, "adaptive_limit": False})
    answer = httpx.post(f"{gateway}/v1/classify", json={"entity_id": "e0002"}, timeout=10)
    assert answer.status_code == 200 and not answer.json()["degraded"]


def test_the_stack_processes_and_a_cpu_meter_over_them(stack):
    rc = load("refusal_cost")
    pids = rc.stack_pids(stack)
    assert stack.process("gateway").pid in pids and len(pids) == len(stack.state().processes)
    with rc.CpuMeter(pids) as meter:
        for _ in range(20):
            httpx.post(f"{stack.url('gateway')}/v1/classify", json={"entity_id": "e0003"})
    assert meter.used_s > 0
    with rc.CpuMeter([2 ** 22 + 12345]) as gone:  # no such process: not counted
        pass
    assert gone.used_s == 0.0
