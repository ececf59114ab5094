"""What a refusal costs the host against what a served answer costs: bench_overload's
estimate of the most goodput any admission mode can keep at 2x and 4x.

Shedding is not free. A refused request still costs the gateway a read, a parse and a
write, and the load generator (on the same 2 cores) a request and an answer. Served, an
answer costs the gateway, the feature store and a classifier their HTTP round trips and the
model. When every process shares the CPU that the capacity used, an offered load of
``L`` times the capacity ``C`` leaves goodput ``G`` with

    G * served + (L * C - G) * refused = C * served
    G / C = (1 - L * x) / (1 - x),   x = refused / served

(overload_report.py ``keep_at``). The bench measures both costs in every round, on the live
stack:

- ``served``: the CPU of every stack process and of the generator during the ramp's peak
  step (nothing shed), over its good answers (overload_report.py ``served_ms``);
- ``refused``: the gateway's and the generator's CPU over the refusals while nothing else
  is served (``measure_refusal``): the gateway allows one request in flight and one
  classify holds it (the feature store delayed 60 s by a latency fault, the gateway's
  feature timeout raised to the step's length and 2 s); every other request is refused
  from its head. The fault and the timeout are removed after the step; the held request
  ends at that timeout with a fallback answer.

It is an estimate, not a bound: it takes the CPU the capacity used as all there is (the
host had some idle time at the peak), and the host's speed drifts while it is measured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

REFUSAL_STEP_S = 3.0
HOLD_DELAY_MS = 60_000  # the feature store's delay: longer than any hold


class CpuMeter:
    """CPU seconds (user + system) the processes ``pids`` used inside the ``with``."""

    def __init__(self, pids: Iterable[int]) -> None:
        import psutil

        self.procs = []
        for pid in pids:
            try:
                self.procs.append(psutil.Process(pid))
            except psutil.Error:  # gone already: nothing to count
                continue
        self.used_s = 0.0

    def _now(self) -> float:
        import psutil

        total = 0.0
        for proc in self.procs:
            try:
                times = proc.cpu_times()
            except psutil.Error:  # a process that died is not counted
                continue
            total += times.user + times.system
        return total

    def __enter__(self) -> CpuMeter:
        self._start = self._now()
        return self

    def __exit__(self, *exc) -> None:
        self.used_s = self._now() - self._start


def stack_pids(stack) -> list[int]:
    """Every running process of a ``gameday.stack.local.Stack``."""
    return [p.pid for p in stack.state().processes if p.pid is not None]


def measure_refusal(stack, token: str, rate: float, run_driver,
                    seconds: float = REFUSAL_STEP_S) -> dict:
    """The gateway's and the generator's CPU per refusal at ``rate`` requests/s, with the
    gateway's one slot held (the module says how). ``run_driver`` is bench_overload's.
    The caller restores the admission it wants afterwards."""
    import httpx

    gateway, features = stack.url("gateway"), stack.url("features")
    auth = {"Authorization": f"Bearer {token}"}
    timeouts = httpx.get(f"{gateway}/admin/policy", headers=auth, timeout=30).json()["timeouts"]
    httpx.patch(f"{gateway}/admin/policy", headers=auth, timeout=30, json={
        "admission": {"max_in_flight": 1, "adaptive_limit": False},
        "timeouts": {"features_s": seconds + 2}}).raise_for_status()
    fault_id = None
    try:  # the timeouts come back and the fault goes, whatever fails on the way
        fault = httpx.post(f"{features}/admin/faults", headers=auth, timeout=30, json={
            "type": "latency", "params": {"delay_ms": HOLD_DELAY_MS}, "ttl_s": 120})
        fault.raise_for_status()
        fault_id = fault.json()["id"]
        threading.Thread(target=_hold, args=(gateway, seconds + 5), daemon=True).start()
        time.sleep(0.5)  # the held request is in its feature lookup
        with CpuMeter([stack.process("gateway").pid]) as meter:
            res = run_driver(f"{gateway}/v1/classify", seconds, rate=rate)
    finally:
        if fault_id is not None:
            httpx.delete(f"{features}/admin/faults/{fault_id}", headers=auth, timeout=30)
        httpx.patch(f"{gateway}/admin/policy", headers=auth, timeout=30,
                    json={"timeouts": timeouts}).raise_for_status()
    answers = len(res["results"])
    refused = sum(1 for r in res["results"] if r[0] == 429)
    return {"rate": rate, "duration_s": seconds, "answers": answers, "refused": refused,
            "gateway_ms": meter.used_s * 1000 / refused if refused else None,
            "generator_ms": res["cpu_s"] * 1000 / answers if answers else None}


def _hold(gateway: str, timeout_s: float) -> None:
    import httpx

    try:  # answered at the gateway's feature timeout, with a fallback
        httpx.post(f"{gateway}/v1/classify", json={"entity_id": "e0001"}, timeout=timeout_s)
    except httpx.HTTPError:
        pass
