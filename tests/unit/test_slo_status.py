"""`gameday slo status --from RECORDING`: the shipped drill rules replayed over a recording."""

import json
import subprocess
import sys

from gameday.engine.exposition import Sample
from gameday.engine.recording import RecordingWriter
from tests.procs import ROOT

START = 1_800_000_000.0


def write_recording(path, minutes_ok: int, minutes_bad: int, rps: int = 50):
    """Gateway classify traffic at ``rps``: all 200 first, then all 503."""
    writer = RecordingWriter(path, started_at=START, interval_s=1.0)
    ok = bad = 0.0
    for i in range((minutes_ok + minutes_bad) * 60):
        if i < minutes_ok * 60:
            ok += rps
        else:
            bad += rps
        base = (("method", "POST"), ("replica", "0"), ("route", "/v1/classify"),
                ("service", "gateway"))
        writer.write_scrape(START + i, "gateway", "127.0.0.1:8080", {"replica": "0"}, [
            Sample("http_requests_total", tuple(sorted(base + (("code", "200"),))), ok),
            Sample("http_requests_total", tuple(sorted(base + (("code", "503"),))), bad),
            # every 200 was the live model's answer, every 503 an answer="error"
            Sample("gateway_classify_answers_total", (("answer", "model"), ("replica", "0")),
                   ok),
            Sample("gateway_classify_answers_total", (("answer", "error"), ("replica", "0")),
                   bad),
        ])
    writer.close()


def status(path, *extra):
    result = subprocess.run([sys.executable, "-m", "gameday.cli.main", "slo", "status",
                             "--from", str(path), *extra], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    return result


def test_an_outage_pages_and_burns_budget(tmp_path):
    path = tmp_path / "outage.jsonl.gz"
    write_recording(path, minutes_ok=3, minutes_bad=1)
    result = status(path, "--json")
    assert result.returncode == 0, result.stderr
    by_id = {s["slo_id"]: s for s in json.loads(result.stdout)}
    gw = by_id["gateway-gateway-availability"]
    assert gw["state"] == "page"
    assert gw["objective"] == 0.999
    assert gw["sli"] == 0.0  # every request of the last 5 s failed
    # 1 minute of 100% errors at objective 99.9%: burn 1000x over the 1m window.
    assert abs(gw["burn_by_window"]["1m"] - 1000) < 60
    assert gw["exhaustion_s"] == 0.0 or gw["budget_remaining"] < 1
    assert gw["budget_remaining"] < 0.95


def test_quiet_traffic_pages_nothing(tmp_path):
    path = tmp_path / "quiet.jsonl.gz"
    write_recording(path, minutes_ok=4, minutes_bad=0)
    result = status(path, "--json")
    assert result.returncode == 0, result.stderr
    gw = {s["slo_id"]: s for s in json.loads(result.stdout)}["gateway-gateway-availability"]
    assert gw["state"] == "ok" and gw["budget_remaining"] == 1.0
    assert gw["exhaustion_s"] is None  # never, at zero burn
    table = status(path)
    assert "gateway-gateway-availability" in table.stdout and "ok" in table.stdout


def test_bad_arguments_name_the_value(tmp_path):
    result = status(tmp_path / "missing.jsonl.gz")
    assert result.returncode == 2
    assert "no such recording" in result.stderr and "missing.jsonl.gz" in result.stderr
    result = subprocess.run([sys.executable, "-m", "gameday.cli.main", "slo", "status",
                             "--engine", "influx"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "'influx'" in result.stderr
