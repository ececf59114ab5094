"""`gameday up --prometheus`: real Prometheus beside the stack, with the generated rules."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from gameday.prometheus.api import PrometheusAPI
from gameday.stack.process import pid_alive
from tests.conftest import require_binary
from tests.integration.test_stack import cleanup, gameday, status_json, wait_gone


def _prometheus_pid(url: str) -> int:
    port = url.rsplit(":", 1)[1]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if any(b"--web.listen-address=127.0.0.1:" + port.encode() == c for c in cmd):
                return int(entry)
    raise AssertionError(f"no prometheus process listening on {url}")


@pytest.fixture(scope="module")
def prom_stack(tmp_path_factory):
    require_binary("prometheus")
    cwd = tmp_path_factory.mktemp("prom-stack")
    result = gameday(cwd, "up", "--detach", "--free-ports", "--prometheus", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "prometheus:" in result.stdout and "query API:" in result.stdout
    data = status_json(cwd)
    yield cwd, data
    cleanup(cwd, data)


def test_prometheus_scrapes_every_replica_and_loads_the_generated_rules(prom_stack):
    _, data = prom_stack
    assert data["query_url"] == data["prometheus_url"] != data["embedded_url"]
    prom, embedded = PrometheusAPI(data["prometheus_url"]), PrometheusAPI(data["embedded_url"])
    names = {g["name"] for g in prom.rule_groups()}
    assert names == {g["name"] for g in embedded.rule_groups()}
    assert any(n.startswith("sloth-slo-alerts-gateway") for n in names)
    deadline = time.monotonic() + 20
    while True:
        targets = prom.targets()
        if len(targets) == 5 and all(t["health"] == "up" for t in targets):
            break
        assert time.monotonic() < deadline, [(t["labels"], t["health"]) for t in targets]
        time.sleep(0.5)
    assert sorted(t["labels"]["job"] for t in targets) == \
        ["classifier", "classifier", "features", "gateway", "llm"]


def test_both_engines_see_the_same_traffic(prom_stack):
    _, data = prom_stack
    gateway = next(p["url"] for p in data["processes"] if p["name"] == "gateway")
    for i in range(40):
        r = httpx.post(gateway + "/v1/classify", json={"entity_id": f"e{i:04d}"})
        assert r.status_code == 200
    expr = 'sum(http_requests_total{service="gateway",route="/v1/classify"})'
    deadline = time.monotonic() + 15
    while True:
        got = [PrometheusAPI(data[k]).query(expr) for k in ("prometheus_url", "embedded_url")]
        values = [s[0].value if s else 0 for s in got]
        if values[0] >= 40 and values[0] == values[1]:
            break
        assert time.monotonic() < deadline, values
        time.sleep(0.5)


def test_sigkilled_supervisor_takes_prometheus_with_it(tmp_path):
    require_binary("prometheus")
    result = gameday(tmp_path, "up", "--detach", "--free-ports", "--prometheus", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    data = status_json(tmp_path)
    try:
        prom_pid = _prometheus_pid(data["prometheus_url"])
        os.kill(data["supervisor_pid"], signal.SIGKILL)
        assert wait_gone([prom_pid] + [p["pid"] for p in data["processes"]], 10) == []
    finally:
        cleanup(tmp_path, data)
        for pid in [p for p in [locals().get("prom_pid")] if p and pid_alive(p)]:
            os.kill(pid, signal.SIGKILL)


def test_prometheus_missing_from_path_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "PATH": "/nonexistent"}
    result = subprocess.run([sys.executable, "-m", "gameday.cli.main", "up", "--prometheus",
                             "--free-ports"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "prometheus is not on PATH" in result.stderr
    assert not (tmp_path / ".gameday").exists()  # nothing started, nothing written


def test_unknown_catalog_is_refused_before_anything_starts(tmp_path):
    result = gameday(tmp_path, "up", "--free-ports", "--catalog", "nope-7d")
    assert result.returncode == 2
    assert "--catalog: no generated rules for 'nope-7d'" in result.stderr
    assert not (tmp_path / ".gameday").exists()


def test_slo_status_reads_the_stacks_prometheus(prom_stack):
    import json

    cwd, data = prom_stack
    result = gameday(cwd, "slo", "status", "--engine", "prometheus", "--json")
    assert result.returncode == 0, result.stderr
    by_id = {s["slo_id"]: s for s in json.loads(result.stdout)}
    assert "gateway-gateway-availability" in by_id
    assert by_id["gateway-gateway-availability"]["objective"] == 0.999
