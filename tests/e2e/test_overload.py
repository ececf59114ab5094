"""Overload: 10x the gateway's capacity for 60 s. No service crashes, memory stays bounded
(bounded queues), and the gateway's SLOs recover within 30 s after the load drops.

Capacity is what the model can serve: the stack runs one classifier replica on a simulated
accelerator ten times slower than the default (40 ms + 10 ms per row, batches of 4), about
50 answers/s within the latency SLO. The default stack serves about 1,000/s on this 2-core
machine, and no load generator sharing those cores can offer ten times that; a slow model
is also what overload looks like in model serving. The test measures the capacity itself
(closed loop, 4 and 8 clients: the most answers/s within 300 ms) and offers 10x that, open
loop, for 60 s."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from gameday.chaos.probes import alert_firing, slo_burn_rate
from tests.e2e.test_drill import gameday, run_folder

GEN = str(Path(__file__).with_name("openloop.py"))
GATEWAY_SLOS = ("gateway-availability", "gateway-classify-latency")
SLOW_MODEL = ("--replicas", "classifier=1", "--set", "classifier.max_batch_size=4",
              "--set", "classifier.compute_base_ms=40",
              "--set", "classifier.compute_per_item_ms=10")


def generate(mode: str, url: str, seconds: float, n: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, GEN, mode, url, str(seconds), str(n)],
                            stdout=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=120)
    return json.loads(out)


def burn_rates(run: Path) -> list[float]:
    """Each gateway SLO's burn rate over the last 5 s: below 1, its SLI is back."""
    return [round(slo_burn_rate(slo, "5s", run=str(run)), 1) for slo in GATEWAY_SLOS]


def paging(run: Path) -> bool:
    return any(alert_firing(slo=slo, severity="page", run=str(run)) for slo in GATEWAY_SLOS)


def gateway_answers(url: str) -> dict:
    import httpx

    text = httpx.get(url + "/metrics", timeout=5).text
    return {line.split('"')[1]: float(line.split()[-1]) for line in text.splitlines()
            if line.startswith("gateway_classify_answers_total{")}


@pytest.mark.slow
@pytest.mark.long  # make test-long, and CI
def test_ten_times_capacity_for_a_minute(tmp_path):
    gameday(tmp_path, "up", "-d", "--free-ports", *SLOW_MODEL, timeout=90)
    run = run_folder(tmp_path)
    try:
        state = json.loads((run / "stack.json").read_text())
        url = next(p["url"] for p in state["processes"] if p["name"] == "gateway")
        procs = {p["id"]: psutil.Process(p["pid"]) for p in state["processes"]}
        capacity = max(result(generate("closed", url, 5, n))["good_per_s"] for n in (4, 8))
        assert capacity > 20, capacity
        baseline = {k: p.memory_info().rss for k, p in procs.items()}
        peak = dict(baseline)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                for k, p in procs.items():
                    peak[k] = max(peak[k], p.memory_info().rss)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        over = generate("open", url, 60, 10 * capacity)
        overload = result(over)
        stop.set()
        sampler.join(5)
        dropped = time.monotonic()
        after = generate("open", url, 45, max(5.0, 0.3 * capacity))
        recovered_s = quiet_s = None
        trace = []
        while time.monotonic() - dropped < 45 and quiet_s is None:
            now = time.monotonic() - dropped
            burns, pages = burn_rates(run), paging(run)
            trace.append((round(now), burns, pages))
            if recovered_s is None and max(burns) < 1:
                recovered_s = now
            if recovered_s is not None and not pages:
                quiet_s = now
            time.sleep(1)
        light = result(after)
        state = json.loads((run / "stack.json").read_text())
        alive = all(p.is_running() for p in procs.values())
    finally:
        gameday(tmp_path, "down", timeout=60, check=False)
    mib = {k: round(peak[k] / 2**20) for k in peak}
    growth = {k: round((peak[k] - baseline[k]) / 2**20) for k in peak}
    print(f"\noverload: capacity {capacity:.0f}/s; 10x = {10 * capacity:.0f}/s offered for 60 s, "
          f"sent {overload['sent_per_s']:.0f}/s, answers {overload['status']}, client "
          f"timeouts {overload['errors']}, good {overload['good_per_s']:.0f}/s; peak RSS MiB "
          f"{mib} (growth {growth}); SLIs within objective {recovered_s} s and pages resolved "
          f"{quiet_s} s after the load dropped; "
          f"after: {light['status']}, p99 {light['p99_s']}")
    assert overload["sent_per_s"] >= 9 * capacity, overload  # the generator kept up
    for p in state["processes"]:  # nothing crashed or was restarted
        assert p["restarts"] == 0 and p["state"] == "ready", p
    assert alive
    assert all(g < 300 for g in growth.values()), growth  # bounded queues, bounded memory
    assert recovered_s is not None and recovered_s <= 30, trace
    # a page's short window is 30 s (drill catalog: 30 m / 60): it resolves just after that
    assert quiet_s is not None and quiet_s <= 45, trace
    assert light["status"].get("200", 0) >= 0.95 * light["sent"], light
