"""One live run of both engines side by side, for the agreement test and its benchmark.

`gameday up --detach --free-ports --prometheus` in a scratch folder (the supervisor, its
embedded engine and Prometheus in their own processes, as a learner runs them); steady
traffic through the gateway, labelled canaries included; an error fault on every
classifier replica partway; then every ``slo:*`` sample both engines stored is compared at
the same timestamps (``gameday.engine.agreement``), and each engine's own count of rule
evaluations scheduled, missed (and, embedded, late) is read from its /metrics.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from gameday.engine.agreement import Comparison, compare
from gameday.engine.exposition import parse
from gameday.stack.admin import add_fault
from gameday.stack.control import load_state
from gameday.stack.process import pid_alive
from gameday.traffic import send_traffic

SELF_METRICS = ("prometheus_rule_group_iterations_total",
                "prometheus_rule_group_iterations_missed_total",
                "prometheus_rule_evaluation_failures_total",
                "gameday_rule_group_iterations_late_total")


def gameday(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gameday.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def self_metrics(url: str) -> dict[str, float]:
    """Totals over every rule group of the schedule counters an engine exports."""
    samples, _ = parse(httpx.get(url.rstrip("/") + "/metrics", timeout=10).text)
    return {name: sum(s.value for s in samples if s.name == name) for name in SELF_METRICS}


def _wait_scraped(prom_url: str, embedded_url: str, timeout_s: float = 60) -> None:
    """Until Prometheus has every target up and both engines evaluate the SLO rules."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            targets = httpx.get(prom_url + "/api/v1/targets", timeout=5).json()
            active = targets["data"]["activeTargets"]
            both = [httpx.get(u + "/api/v1/query", params={"query": "slo:objective:ratio"},
                              timeout=5).json()["data"]["result"]
                    for u in (prom_url, embedded_url)]
            if active and all(t["health"] == "up" for t in active) and all(both):
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"engines not scraping after {timeout_s} s")
        time.sleep(0.5)


def run_live(cwd: Path, duration_s: float = 90, fault_at_s: float = 30, fault_s: float = 30,
             probability: float = 0.3, settle_s: float = 10, log=print) -> dict:
    """Start the stack, drive it, compare; returns the comparison and the schedule counts.

    The comparison covers ``(traffic start + settle_s, end]``: the first seconds of
    traffic are left out so that the window edges of both engines hold traffic."""
    up = gameday(cwd, "up", "--detach", "--free-ports", "--prometheus")
    if up.returncode != 0:
        raise AssertionError(up.stdout + up.stderr)
    run, state = load_state(home=cwd / ".gameday")
    stop = threading.Event()
    try:
        prom_url, embedded_url = state.prometheus_url, state.embedded_url
        _wait_scraped(prom_url, embedded_url)
        gateway = next(p.url for p in state.processes if p.name == "gateway")
        features = next(p.url for p in state.processes if p.name == "features")
        requests = {"sent": 0}

        def load() -> None:
            while not stop.is_set():
                r = send_traffic(gateway, classify=40, generate=1, concurrency=4,
                                 labels_url=features)
                requests["sent"] += r.classify_ok + r.classify_failed + 1

        t_traffic = time.time()
        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        time.sleep(fault_at_s)
        classifiers = [p for p in state.processes if p.name == "classifier"]
        add_fault(classifiers, run.token(), {"type": "error", "params": {"status": 500},
                                             "route": "/v1/*", "probability": probability,
                                             "ttl_s": fault_s})
        log(f"fault: classifier 500 at p={probability} for {fault_s:g} s, "
            f"{fault_at_s:g} s into the traffic")
        time.sleep(max(0.0, duration_s - fault_at_s))
        stop.set()
        loader.join(30)
        end = time.time() - 1.5  # both engines have evaluated every slot up to here
        time.sleep(1.0)
        t0 = time.perf_counter()
        cmp: Comparison = compare(prom_url, embedded_url, t_traffic + settle_s, end,
                                  traffic_start=t_traffic)
        took = time.perf_counter() - t0
        status = json.loads((run.path / "slo-status.json").read_text())
        return {"comparison": cmp, "compare_s": took, "requests": requests["sent"],
                "window": (t_traffic + settle_s, end),
                "prometheus": self_metrics(prom_url), "embedded": self_metrics(embedded_url),
                "evaluation": status.get("evaluation", {}), "run_path": run.path}
    finally:
        stop.set()
        gameday(cwd, "down")
        for pid in [state.supervisor_pid] + [p.pid for p in state.processes if p.pid]:
            if pid and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def describe(result: dict) -> str:
    """The comparison as a table a human reads (per recording rule)."""
    cmp: Comparison = result["comparison"]
    lines = [f"{'recording rule':44} {'points':>6} {'med abs':>9} {'worst abs':>9} "
             f"{'med rel':>8} {'worst rel':>9} {'max tol':>9} {'closest':>7} {'outside':>7}"]
    for name, f in cmp.families().items():
        lines.append(f"{name:44} {f['points']:6d} {f['median_abs']:9.2g} {f['worst_abs']:9.2g} "
                     f"{f['median_rel']:8.1%} {f['worst_rel']:9.1%} {f['max_tol']:9.2g} "
                     f"{f['closest']:7.0%} {f['outside']:7d}")
    lines.append(f"paired points {len(cmp.points)}; stored by one engine only: "
                 f"prometheus {cmp.only_a}, embedded {cmp.only_b}")
    return "\n".join(lines)
