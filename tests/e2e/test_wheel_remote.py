"""One wheel drill, answered by two remote responders (issue 19, items 3 and 4).

The facilitator starts `gameday drill run --wheel` in one folder; two teammates respond from
two other folders with `gameday incident ... --url URL --token-file FILE` (nothing of the run
folder but a copy of the responder's token). While the drill runs, nothing a responder can
read names the hidden scenario: the timeline, the run folder's file names and text files
(the services' fault store and their lines about faults included: sealed until the end),
drill.json, the incident API, the drill's /metrics, the web console (its page, levers,
history and event stream with the responder's token) and every CLI output; the responder's
token opens neither the answer key (403) nor the services' fault admin API (401). At the end
the drill reveals it all.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.procs import wait_until

FIXTURE = Path(__file__).with_name("fixtures") / "one-bad-replica.json"
# What would tell the scenario: its name, both titles, its action, and the fault as the chaos
# side writes it (the generic type "error" is spelt as a field, since the word is everywhere)
NEEDLES = ("one-bad-replica", "One classifier replica answers 500",
           "Half the classify answers are not the model", "classifier-0-fails",
           "inject_fault", '"fault_type"', '"type": "error"', '"type":"error"',
           "fault_start", "Test scenario: one classifier replica")


def gameday(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMEDAY_")}
    result = subprocess.run([sys.executable, "-m", "gameday.cli.main", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=60, env=env)
    if check:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def events(run: Path) -> list[dict]:
    path = run / "timeline.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return sorted((json.loads(line) for line in lines if line.strip()), key=lambda e: e["ts"])


def paged_after_steady(timeline: list[dict]) -> bool:
    steady = [e["ts"] for e in timeline if e["kind"] == "steady_state" and e.get("ok")]
    return bool(steady) and any(e["kind"] == "page" and e["ts"] > steady[0]
                                for e in timeline)


def readable_texts(run: Path) -> dict[str, str]:
    """Every file name under the run folder, and the text of every file a responder can
    read there (gzip opened, binary files such as the charts skipped)."""
    out = {}
    for path in sorted(run.rglob("*")):
        rel = str(path.relative_to(run))
        out[f"name:{rel}"] = rel
        if not path.is_file() or not os.access(path, os.R_OK):
            continue
        try:
            raw = path.read_bytes()
            if path.suffix == ".gz":
                raw = gzip.decompress(raw)
            out[rel] = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
            continue  # a file being rewritten, or binary
    return out


def read_stream(url: str, headers: dict, seconds: float) -> str:
    """What a console's event stream sends in ``seconds``."""
    chunks, deadline = [], time.monotonic() + seconds
    with httpx.stream("GET", url, headers=headers, timeout=10) as resp:
        assert resp.status_code == 200, resp.status_code
        for chunk in resp.iter_text():
            chunks.append(chunk)
            if time.monotonic() > deadline:
                break
    return "".join(chunks)


def leaks(surfaces: dict[str, str]) -> list[str]:
    return [f"{where}: {needle!r}" for where, text in surfaces.items() for needle in NEEDLES
            if needle.lower() in text.lower()]


@pytest.mark.slow
def test_two_remote_responders_work_a_wheel_that_leaks_nothing_before_the_end(tmp_path):
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(FIXTURE, scenarios / FIXTURE.name)
    facilitator, alice, bob = (tmp_path / n for n in ("facilitator", "alice", "bob"))
    for folder in (facilitator, alice, bob):
        folder.mkdir()
    out = open(tmp_path / "drill-output.txt", "w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMEDAY_")}
    drill = subprocess.Popen([sys.executable, "-m", "gameday.cli.main", "drill", "run",
                              "--wheel", "--seed", "7", "--scenarios", str(scenarios)],
                             cwd=facilitator, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env={**env, "COLUMNS": "200"})
    try:
        runs = facilitator / ".gameday" / "runs"
        run = wait_until(lambda: next(iter(runs.iterdir()), None) if runs.exists() else None,
                         60, "run folder")
        drill_file = run / "drill.json"
        url = wait_until(lambda: drill_file.exists() and json.loads(
            drill_file.read_text()).get("controller_url"), 60, "controller URL")
        for who in (alice, bob):  # what the facilitator hands each teammate
            shutil.copy(run / "responder.token", who / "token")
            os.chmod(who / "token", 0o600)
        remote = ("--url", url, "--token-file", "token")
        cli: dict[str, str] = {}

        # a page of the fault: after the steady state (a slow start on a busy machine may
        # page during the warm-up, before any fault)
        try:
            wait_until(lambda: paged_after_steady(events(run)), 180, "a page after the fault")
        except AssertionError as err:
            out.flush()
            raise AssertionError(f"{err}; the drill said:\n"
                                 + (tmp_path / "drill-output.txt").read_text()[-3000:]) from None
        status = gameday(alice, "incident", "status", "--json", *remote).stdout
        cli["alice status --json"] = status
        assert json.loads(status)["scenario"]["name"] == "hidden"
        cli["alice status"] = gameday(alice, "incident", "status", *remote).stdout
        cli["alice ack"] = gameday(alice, "incident", "ack", "--who", "alice", *remote).stdout
        assert "acknowledged" in cli["alice ack"]
        cli["bob note"] = gameday(bob, "incident", "note", "gateway 5xx from one replica",
                                  "--who", "bob", *remote).stdout
        cli["bob choices"] = gameday(bob, "incident", "diagnose", "--choices", *remote).stdout
        # bob has no run folder and no URL: the error says how to pass them
        lost = gameday(bob, "incident", "status", check=False)
        assert lost.returncode != 0 and "--url URL --token-file FILE" in lost.stderr
        cli["bob mitigate"] = gameday(
            bob, "incident", "mitigate", "eject_replica", "--arg", "upstream=classifier",
            "--arg", "replica=0", "--who", "bob", *remote).stdout
        assert "eject_replica done" in cli["bob mitigate"]

        headers = {"Authorization": f"Bearer {(alice / 'token').read_text().strip()}"}
        api = {"GET /incident": httpx.get(f"{url}/incident", headers=headers).text,
               "GET /metrics": httpx.get(f"{url}/metrics").text}
        # the web console as the responder opens it: the page, its levers and history, and
        # a few seconds of its stream (state, timeline, metrics) with the responder's token
        api["GET /console"] = httpx.get(f"{url}/console").text
        for path in ("/console/api/levers", "/console/api/history"):
            answer = httpx.get(f"{url}{path}", headers=headers, timeout=10)
            assert answer.status_code == 200, (path, answer.text)
            api[f"GET {path}"] = answer.text
        api["GET /console/stream"] = read_stream(f"{url}/console/stream", headers, 4.0)
        assert "event: state" in api["GET /console/stream"], api["GET /console/stream"][:500]
        assert "event: timeline" in api["GET /console/stream"]
        key = httpx.get(f"{url}/facilitator/state", headers=headers)
        assert key.status_code == 403, key.text  # the answer key is the facilitator's
        api["GET /facilitator/state"] = key.text
        pause = httpx.post(f"{url}/facilitator/pause", json={}, headers=headers)
        assert pause.status_code == 403, pause.text
        # the responder's token is not the services' admin token: `gameday faults list`
        # (GET /admin/faults on each service) refuses it, so the fault stays hidden there too
        stack = json.loads((run / "stack.json").read_text())
        ready = [p for p in stack["processes"] if p["state"] == "ready"]
        assert ready
        for proc in ready:
            listed = httpx.get(f"{proc['url']}/admin/faults", headers=headers, timeout=10)
            assert listed.status_code == 401, (proc["url"], listed.text)
        during = events(run)
        assert not any(e["kind"] == "run_end" for e in during)
        assert [e for e in during if e.get("who") == "chaos"] == []  # symptoms only
        found = leaks({**readable_texts(run), **cli, **api,
                       "drill output": (tmp_path / "drill-output.txt").read_text()})
        assert found == [], found
        assert not (run / "chaos").exists() or not list((run / "chaos").iterdir())
        sealed = facilitator / ".gameday" / "sealed" / f"{run.name}-stack"
        assert any(sealed.rglob("*.faults.log")), "the fault log lines are sealed meanwhile"

        # the facilitator, in the drill's folder, holds the answer key and the real fault
        key = json.loads(gameday(facilitator, "incident", "answer-key", "--json").stdout)
        assert key["answer_key"]["scenario"] == "one-bad-replica"
        # the services' real faults (the fixture's lasts 40 s: it may be over by now)
        assert "error" not in key["fault"], key["fault"]
        assert {(f["process"], f["type"]) for f in key["fault"]["active"]} <= \
            {("classifier-0", "error")}
        assert "paused" in gameday(facilitator, "incident", "pause", "--who", "fay").stdout
        held = gameday(alice, "incident", "escalate", "--who", "alice", *remote, check=False)
        assert held.returncode != 0 and "paused" in held.stderr
        assert "resumed" in gameday(facilitator, "incident", "resume", "--who", "fay").stdout

        wait_until(lambda: any(e["kind"] == "recovered" for e in events(run)), 120,
                   "recovery")
        gameday(alice, "incident", "resolve", "--who", "alice", *remote)
        drill.wait(timeout=180)
    finally:
        if drill.poll() is None:
            drill.terminate()
            drill.wait(timeout=60)
        out.close()

    timeline = events(run)
    acted = {(e["kind"], e.get("who")) for e in timeline}
    assert {("ack", "alice"), ("note", "bob"), ("mitigation", "bob"),
            ("resolve", "alice")} <= acted, acted
    # revealed at the end: the chaos side's events, its files, the answer key, the report
    fault = next(e for e in timeline if e["kind"] == "fault_start")
    assert fault["who"] == "chaos" and fault["fault"]["type"] == "error"
    assert fault["ts"] < next(e["ts"] for e in timeline if e["kind"] == "page")
    assert (run / "chaos" / "experiment-journal.json").exists()
    assert not (facilitator / ".gameday" / "sealed").exists()
    # the stack's sealed side too: the services' fault store and their lines about faults
    revealed_log = "".join(p.read_text() for p in (run / "logs").glob("*.faults.log"))
    assert '"fault_type": "error"' in revealed_log, revealed_log[-2000:]
    assert {e.get("role") for e in timeline if e["kind"] in ("ack", "note", "mitigation")} \
        == {"responder"}
    assert [(e["kind"], e["who"], e["role"]) for e in timeline
            if e["kind"] in ("pause", "resume")] == [("pause", "fay", "facilitator"),
                                                     ("resume", "fay", "facilitator")]
    revealed = json.loads((run / "drill.json").read_text())
    assert revealed["scenario"] == "one-bad-replica" and revealed["seed"] == 7
    assert "replica 0" in revealed["answer_key"]["root_cause"]
    report = (run / "report.md").read_text()
    assert "Half the classify answers are not the model" in report
    assert "one-bad-replica" in (run / "postmortem.md").read_text()
    output = (tmp_path / "drill-output.txt").read_text()
    assert "the scenario was: Half the classify answers" in output
    score = json.loads((run / "score.json").read_text())
    assert score["phases"]["impact_start"] == pytest.approx(fault["ts"])
