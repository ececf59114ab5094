"""A sceptical trainee games the drill through the real incident API; an honest one passes.

Both drills run the test scenario (one classifier replica answers 500) interactively, and
respond from another "terminal" with `gameday incident ...`, as a person would. The cheat
resolves before recovery (refused), takes every hint, gives a free-text negation as its
diagnosis, pulls a lever that cannot help, then removes the fault with clear_faults. The
honest responder reads per-replica error rates from the stack's own query API, picks the
right component and failure mode, and ejects the bad replica.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_drill import FIXTURE, gameday, timeline, wait_for

pytestmark = pytest.mark.slow


def start_drill(cwd: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-m", "gameday.cli.main", "drill", "run",
                             str(FIXTURE)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    runs = cwd / ".gameday" / "runs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [p for p in runs.iterdir() if p.is_dir()] if runs.exists() else []
        if found:
            return proc, found[0]
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("the drill made no run folder")


def resolve_and_finish(cwd: Path, proc: subprocess.Popen, run: Path) -> tuple[str, dict, str]:
    """Resolve once the drill has seen the steady state again; the drill's output, its
    score.json and report.md."""
    wait_for(run, "recovered", 120)
    incident(cwd, "resolve")
    out, _ = proc.communicate(timeout=240)
    score = json.loads((run / "score.json").read_text())
    return out, score, (run / "report.md").read_text()


def incident(cwd: Path, *args, check: bool = True) -> subprocess.CompletedProcess:
    return gameday(cwd, "incident", *args, "--who", "trainee", check=check, timeout=90)


def test_a_cheat_scores_low_with_every_reason_in_the_report(tmp_path):
    proc, run = start_drill(tmp_path)
    try:
        wait_for(run, "page", 150)
        early = incident(tmp_path, "resolve", check=False)
        assert early.returncode != 0 and "does not hold yet" in early.stderr
        incident(tmp_path, "ack")
        hints = [incident(tmp_path, "hint").stdout for _ in range(3)]
        assert "no more hints" in hints[-1]
        incident(tmp_path, "diagnose", "it is not classifier replica 0 and not a 500")
        incident(tmp_path, "mitigate", "set_gateway_policy", "--arg",
                 'policy={"timeouts": {"features_s": 0.4}}')
        time.sleep(22)  # the wrong lever gets its time to show it did nothing
        incident(tmp_path, "mitigate", "clear_faults")
        out, score, report = resolve_and_finish(tmp_path, proc, run)
    finally:
        if proc.poll() is None:
            proc.kill()
    kinds = [e["kind"] for e in timeline(run)]
    assert "resolve_refused" in kinds and kinds.index("resolve_refused") < kinds.index(
        "recovered")
    grades = {m["lever"]: m["grade"] for m in score["mitigations"]}
    # A lever that cannot help is never "helped". Its grade is read from the error ratio
    # before and after it: "no effect", or "worse" when the errors the bad replica still
    # causes happened to rise by half again in its window (seen on a loaded machine).
    wrong = grades.pop("set_gateway_policy")
    assert wrong in ("no effect", "worse") and grades == {"clear_faults": "reverted"}, \
        score["mitigations"]
    assert score["phases"]["mitigated"] is None  # nothing that helped
    assert score["hints"]["taken"] == 2
    verdict = score["verdict"]
    assert verdict["result"] == "reverted", verdict
    assert score["points"]["percent"] < 60
    reasons = " | ".join(verdict["reasons"])
    for reason in ("reverted, not mitigated", "mitigate: never happened",
                   "diagnosis not judged: free text only"):
        assert reason in reasons, reasons
    items = {i["item"]: i for i in score["points"]["items"]}
    assert items["hints"]["points"] == -10
    assert "## Verdict: REVERTED" in report and "| `clear_faults` | ok | reverted |" in report
    cost = {"no effect": -5, "worse": -10}[wrong]  # the report shows the score's grade
    assert f"| `set_gateway_policy` | ok | {wrong} | {cost} |" in report
    assert "2 hint(s) taken, 5 points each" in report
    assert "verdict: reverted" in out


def per_replica_errors(run: Path) -> dict[str, float]:
    """What a responder would query: the 5xx each classifier replica answered in the last
    minute, from the stack's own Prometheus-compatible query API (stack.json)."""
    url = json.loads((run / "stack.json").read_text())["embedded_url"]
    expr = ('sum by (replica) (increase(http_requests_total{service="classifier",'
            'route="/v1/predict",code=~"5.."}[1m]))')
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    return {r["metric"].get("replica", "?"): float(r["value"][1])
            for r in body["data"]["result"]}


def test_an_honest_response_from_the_metrics_passes(tmp_path):
    proc, run = start_drill(tmp_path)
    try:
        wait_for(run, "page", 150)
        incident(tmp_path, "ack")
        errors = per_replica_errors(run)
        bad = max(errors, key=errors.get)
        assert bad == "0" and errors["0"] >= 5 and errors.get("1", 0.0) == 0.0, errors
        choices = json.loads(gameday(tmp_path, "incident", "status", "--json").stdout)[
            "diagnosis_choices"]
        component = next(c for c in choices["components"] if c.endswith(f"replica {bad}"))
        mode = next(m for m in choices["failure_modes"] if "500" in m)
        incident(tmp_path, "diagnose", f"replica {bad} answered {errors[bad]:.0f} 500s",
                 "--component", component, "--failure-mode", mode)
        incident(tmp_path, "mitigate", "eject_replica", "--arg", "upstream=classifier",
                 "--arg", f"replica={bad}")
        out, score, report = resolve_and_finish(tmp_path, proc, run)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert score["verdict"]["result"] == "pass", score["verdict"]
    assert score["diagnosis"]["correct"] is True
    [lever] = score["mitigations"]
    assert lever["grade"] == "helped", lever
    assert score["phases"]["mitigated"] == lever["ts"]
    assert score["phases"]["resolved"] >= score["phases"]["recovered"]
    assert "## Verdict: PASS" in report and "verdict: pass" in out
