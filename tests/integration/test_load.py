"""Locust against the real stack on loopback: `gameday load run|capacity|stop`, the Python
API, and distributed mode. Load durations are short; nothing asserts on timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gameday.load import start_load, stop_load
from gameday.load.capacity import STEPS_FILE
from gameday.stack.local import Stack
from gameday.stack.process import pid_alive
from gameday.stack.spec import build_spec
from tests.procs import ROOT, free_port

LOADTESTS = ROOT / "loadtests"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("load") / ".gameday"
    with Stack(build_spec(free_ports=True), home=home) as st:
        yield st


def gameday(stack: Stack, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gameday.cli.main", *args],
                          cwd=stack.run.home.parent, capture_output=True, text=True,
                          timeout=timeout)


def only_dir(parent: Path, suffix: str) -> Path:
    found = [p for p in parent.glob(f"*-{suffix}") if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def by_name(entries: list[dict]) -> dict[str, dict]:
    return {e["name"]: e for e in entries}


def test_load_run_counts_requests_and_writes_csv_and_json(stack):
    result = gameday(stack, "load", "run", "--profile", "steady", "--users", "4",
                     "--duration", "8s", "--run", stack.run.id)
    assert result.returncode == 0, result.stderr + result.stdout
    out = only_dir(stack.run.path / "load", "steady")
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust.json", "load.json",
                 "locust.pid", "report.html"):
        assert (out / name).is_file(), name
    entries = by_name(json.loads((out / "locust.json").read_text()))
    assert entries["classify"]["num_requests"] > 0
    assert entries["generate"]["num_requests"] > 0
    assert entries["generate TTFT"]["num_requests"] > 0  # one per stream with a token
    assert entries["generate TTFT"]["method"] == "SSE"
    assert entries["classify canary"]["num_requests"] >= 0
    assert "generate TTFT" in result.stdout and "Aggregated" in result.stdout
    meta = json.loads((out / "load.json").read_text())
    assert meta["host"] == stack.url("gateway") and meta["users"] == 4


def test_start_load_in_background_and_stop_it_from_another_process(stack):
    handle = start_load("soak", users=3, duration_s=120, run=stack.run)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = handle.progress()
            if rows and rows[-1].requests > 0:
                break
            time.sleep(0.5)
        assert handle.progress()[-1].requests > 0
        assert (handle.out_dir / "locust.pid").read_text().strip() == str(handle.pid)
        stopper = gameday(stack, "load", "stop", "--run", stack.run.id, timeout=40)
        assert stopper.returncode == 0, stopper.stderr
        assert f"stopped Locust pid(s) {handle.pid}" in stopper.stdout
        assert handle.wait(10) is not None
    finally:
        stop_load(out_dir=handle.out_dir)
    assert not pid_alive(handle.pid)
    stats = handle.stats()
    assert stats["total"]["requests"] > 0 and stats["running"] is False
    assert (handle.out_dir / "locust.json").is_file()  # Locust shut down cleanly


def test_capacity_reports_steps_and_a_result_with_numbers(stack):
    result = gameday(stack, "load", "capacity", "--start-users", "5", "--step-users", "10",
                     "--step-time", "4s", "--max-users", "25", "--max-time", "14s", "--json",
                     "--run", stack.run.id)
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads(result.stdout)
    assert report["threshold_ms"] == 300 and report["slo"] == "gateway-classify-latency"
    assert report["steps"], report
    first = report["steps"][0]
    assert first["users"] == 5 and first["requests"] > 0 and first["rps"] > 0
    assert first["p50_ms"] > 0 and first["p99_ms"] >= first["p50_ms"]
    if report["crossed"] and report["slo_rps"] is not None:
        assert report["slo_rps"] > 0
    else:
        assert report["reason"]
    assert report["knee_rps"] is None or report["knee_rps"] > 0
    assert report["knee_reason"]
    out = Path(report["out_dir"])
    assert (out / STEPS_FILE).is_file() and (out / "locust_stats.csv").is_file()


def test_distributed_master_and_two_workers(stack, tmp_path):
    port = free_port()
    env = {**os.environ, "LOAD_USERS": "4", "LOAD_DURATION": "8s"}
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "steady.py", "--headless", "--master",
         "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--host", stack.url("gateway"),
         "--json-file", str(tmp_path / "master"), "--only-summary", "-t", "60s"],
        cwd=LOADTESTS, env=env, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "master.log", "wb"))  # noqa: SIM115
    workers = [subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "steady.py", "--worker",
         "--master-host", "127.0.0.1", "--master-port", str(port)],
        cwd=LOADTESTS, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)]
    try:
        assert master.wait(90) == 0
        for w in workers:
            w.wait(30)
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                p.kill()
                p.wait()
    log = (tmp_path / "master.log").read_text()
    assert "workers that sent requests: 2" in log, log[-2000:]
    entries = by_name(json.loads((tmp_path / "master.json").read_text()))
    assert entries["classify"]["num_requests"] > 0
    assert entries["generate TTFT"]["num_requests"] > 0


class Refusing:
    """A loopback server answering every request 429, with ``retry_after`` or without one;
    it counts the requests it got."""

    def __init__(self, retry_after: str | None) -> None:
        import http.server
        import threading

        outer = self
        self.count = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.count += 1
                body = b'{"detail":"shed","reason":"adaptive_limit"}'
                self.send_response(429)
                if retry_after is not None:
                    self.send_header("retry-after", retry_after)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("retry_after, most_per_user_s", [("1", 2.0), (None, None)])
def test_refused_users_wait_the_retry_after_before_asking_again(stack, retry_after,
                                                                 most_per_user_s):
    """Surge users (10 requests/s each) refused with Retry-After: 1 come back a second later,
    as client libraries do; refused without one, they keep their pace."""
    server = Refusing(retry_after)
    try:
        result = gameday(stack, "load", "run", "--profile", "surge", "--users", "4",
                         "--duration", "6s", "--host", server.url, "--run", stack.run.id)
    finally:
        server.close()
    assert result.returncode in (0, 1), result.stderr + result.stdout  # every request failed
    per_user_s = server.count / 4 / 6
    if most_per_user_s is not None:
        assert 0 < per_user_s <= most_per_user_s, server.count
    else:
        assert per_user_s >= 4, server.count  # the pacing (10/s), give or take start-up


def test_capacity_counts_fallback_answers_as_failures_not_as_capacity(stack):
    """The classifier's circuit opened by hand: classify answers are fast fallbacks until
    it half-opens (5 s). The capacity run counts them as failures, not as served answers,
    and stops at the first step (over 5% failed)."""
    import httpx

    circuit = f"{stack.url('gateway')}/admin/upstreams/classifier/circuit"
    auth = {"Authorization": f"Bearer {stack.token}"}
    for n in range(5):  # answers to fall back on (the most frequent class so far)
        answer = httpx.post(f"{stack.url('gateway')}/v1/classify", json={"entity_id": f"e{n:04d}"})
        assert answer.status_code == 200 and not answer.json()["degraded"], answer.text
    assert httpx.put(circuit, json={"state": "open"}, headers=auth).status_code == 200
    try:
        result = gameday(stack, "load", "capacity", "--start-users", "5", "--step-users",
                         "10", "--step-time", "4s", "--max-users", "25", "--max-time", "14s",
                         "--json", "--run", stack.run.id)
    finally:
        httpx.put(circuit, json={"state": "closed"}, headers=auth)
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads(result.stdout)
    first = report["steps"][0]
    assert first["requests"] > 0 and first["failures"] > 0.05 * first["requests"], first
    served = (first["requests"] - first["failures"]) / first["seconds"]
    assert first["served_rps"] == pytest.approx(served, rel=0.01) and first["rps"] > served
    assert first["too_many_failures"] and len(report["steps"]) == 1  # stopped there
    assert report["knee_rps"] is None and report["max_rps"] == first["served_rps"]
    errors = (Path(report["out_dir"]) / "locust_failures.csv").read_text()
    assert "degraded answer (not served by the model)" in errors
