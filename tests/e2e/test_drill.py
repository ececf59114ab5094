"""`gameday drill run` end to end: auto, interactive through `gameday incident`, wheel of
misfortune, Ctrl-C, and --prometheus, on a test scenario (one bad classifier replica)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gameday.slo.consumption import format_consumed
from gameday.stack.process import pid_alive
from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("fixtures") / "one-bad-replica.json"
ORDER = ["run_start", "load_start", "steady_state", "fault_start", "alert_firing", "page",
         "ack", "mitigation", "recovered", "resolve", "run_end"]


def gameday(cwd, *args, timeout=60, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "gameday.cli.main", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def run_folder(cwd: Path) -> Path:
    [run] = list((cwd / ".gameday" / "runs").iterdir())
    return run


def timeline(run: Path) -> list[dict]:
    path = run / "timeline.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def kinds(run: Path) -> list[str]:
    return [e["kind"] for e in sorted(timeline(run), key=lambda e: e["ts"])]


def wait_for(run_dir, kind: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = run_dir() if callable(run_dir) else run_dir
        if run is not None:
            for e in timeline(run):
                if e["kind"] == kind:
                    return e
        time.sleep(0.5)
    raise AssertionError(f"no {kind!r} event after {timeout} s")


def in_order(seen: list[str], expected: list[str]) -> bool:
    it = iter(seen)
    return all(k in it for k in expected)


def children_gone(run: Path, timeout: float = 10.0) -> list[int]:
    state = json.loads((run / "stack.json").read_text())
    pids = [p["pid"] for p in state["processes"] if p["pid"]]
    for meta in (run / "load").glob("*/load.json"):
        pids.append(json.loads(meta.read_text())["pid"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if pid_alive(p)]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def ejections(run: Path) -> list[str]:
    """The gateway's ejection log lines: what a failed recovery is first checked against."""
    lines = []
    for log in (run / "logs").glob("gateway*"):
        lines += [line[:240] for line in log.read_text(errors="replace").splitlines()
                  if "eject" in line or "re-admitted" in line]
    return lines


@pytest.mark.slow
def test_make_demo_runs_a_whole_auto_drill_and_writes_the_outputs(tmp_path):
    """What `make demo` runs: the default scenario with the automatic responder."""
    t0 = time.monotonic()
    result = gameday(tmp_path, "demo", timeout=300)
    took = time.monotonic() - t0
    run = run_folder(tmp_path)
    seen = kinds(run)
    assert in_order(seen, ORDER), seen
    assert "role" in seen
    page = next(e for e in timeline(run) if e["kind"] == "page")
    assert page["alert"] == "GatewayAvailabilityBudgetBurn"
    assert page["runbook_url"] == "runbooks/GatewayAvailabilityBudgetBurn.md"
    assert page["burn_rate"] > 1
    mitigation = next(e for e in timeline(run) if e["kind"] == "mitigation")
    assert mitigation["lever"] == "eject_replica" and mitigation["ok"] is True
    for name in ("score.json", "report.html", "report.md", "postmortem.md", "drill.json"):
        assert (run / name).exists(), name
    assert len(list((run / "charts").glob("*.png"))) == 3
    score = json.loads((run / "score.json").read_text())
    assert score["verdict"]["result"] == "pass", (score["verdict"], seen, ejections(run))
    print(f"\nmake demo drill: {took:.0f} s wall (target under 180 s); "
          f"durations {score['durations_s']}")
    lint = gameday(tmp_path, "postmortem", "lint", str(run / "postmortem.md"),
                   "--allow-prompts", check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert children_gone(run) == []
    assert "drill over" in result.stdout and "0 error(s) apart from the prompts" in result.stdout
    assert_one_budget_figure(tmp_path, run, score, result.stdout)


def assert_one_budget_figure(cwd: Path, run: Path, score: dict, drill_output: str) -> None:
    """Budget consumed, read from the six places a learner sees it: the drill's terminal,
    `slo status --run`, `slo budget --run`, score.json, report.md and the postmortem draft."""
    figures = {s["slo_id"]: s["budget_consumed_text"] for s in score["slos"]}
    assert figures and figures["gateway-gateway-availability"] not in ("0.00%", "-"), figures
    report = (run / "report.md").read_text()
    draft = (run / "postmortem.md").read_text()
    status = json.loads(gameday(cwd, "slo", "status", "--run", run.name, "--json").stdout)
    budget = json.loads(gameday(cwd, "slo", "budget", "--run", run.name, "--json", "--policy",
                                str(ROOT / "slos" / "policies.yaml")).stdout)
    from_status = {s["slo_id"]: format_consumed(s["use"]["consumed"]) for s in status}
    from_budget = {s["slo_id"]: s["budget_consumed_text"] for s in budget["slos"]}
    for sid, text in figures.items():
        assert f"budget consumed {sid}: {text} of the 12h period's budget" in drill_output, \
            (sid, text, drill_output)
        assert from_status[sid] == text and from_budget[sid] == text, (sid, text)
        row = next(line for line in report.splitlines() if line.startswith(f"| {sid} |"))
        assert row.split(" | ")[2] == text, (row, text)
        row = next(line for line in draft.splitlines() if line.startswith(f"| {sid} |"))
        assert row.split(" | ")[2] == text, (row, text)


@pytest.mark.slow
@pytest.mark.long  # make test-long, and CI (tests/e2e/test_wheel_remote.py: a wheel in make test)
def test_interactive_wheel_drill_driven_by_a_script(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(FIXTURE, scenarios / FIXTURE.name)
    child = pexpect.spawn(sys.executable, ["-m", "gameday.cli.main", "drill", "run",
                                           "--wheel", "--seed", "3", "--scenarios",
                                           str(scenarios)],
                          cwd=str(tmp_path), env={**os.environ, "COLUMNS": "120"},
                          encoding="utf-8", timeout=240)
    seen_output: list[str] = []

    def drain():  # keep reading the terminal, or the live view blocks on a full pty
        while True:
            try:
                seen_output.append(child.read_nonblocking(65536, timeout=1))
            except pexpect.TIMEOUT:
                continue
            except (pexpect.EOF, OSError, ValueError):
                return

    reader = threading.Thread(target=drain, daemon=True)
    try:
        child.expect("hidden scenario")
        reader.start()
        runs = tmp_path / ".gameday" / "runs"

        def current():
            found = list(runs.iterdir()) if runs.exists() else []
            return found[0] if found else None

        page = wait_for(current, "page", 120)
        run = current()
        assert page["alert"] == "GatewayAvailabilityBudgetBurn"
        gameday(tmp_path, "incident", "role", "commander", "--who", "ann")
        status = json.loads(gameday(tmp_path, "incident", "status", "--json").stdout)
        assert status["scenario"]["name"] == "hidden" and status["pages"]
        assert "eject_replica" in [lv["lever"] for lv in status["levers"]]
        assert "acknowledged" in gameday(tmp_path, "incident", "ack", "--who", "ann").stdout
        hint = gameday(tmp_path, "incident", "hint", "--who", "ann").stdout
        assert "Compare the classifier replicas" in hint
        gameday(tmp_path, "incident", "note", "replica 0 answers 500s", "--who", "bob")
        choices = gameday(tmp_path, "incident", "diagnose", "--choices").stdout
        assert "classifier replica 0" in choices and "answers 500 to every request" in choices
        early = gameday(tmp_path, "incident", "resolve", "--who", "ann", check=False)
        assert early.returncode != 0 and "steady-state hypothesis does not hold" in \
            early.stderr
        gameday(tmp_path, "incident", "diagnose", "replica 0 returns 500 errors", "--component",
                "classifier replica 0", "--failure-mode", "answers 500 to every request",
                "--who", "ann")
        bad = gameday(tmp_path, "incident", "mitigate", "no_such_lever", check=False)
        assert bad.returncode == 2 and "unknown lever 'no_such_lever'" in bad.stderr
        out = gameday(tmp_path, "incident", "mitigate", "eject_replica", "--arg",
                      "upstream=classifier", "--arg", "replica=0", "--who", "ann").stdout
        assert "eject_replica done" in out
        wait_for(run, "recovered", 90)
        gameday(tmp_path, "incident", "resolve", "--who", "ann")
        reader.join(120)
        child.wait()
    finally:
        if child.isalive():
            child.kill(signal.SIGKILL)
    screen = "".join(seen_output)
    assert "drill over" in screen and "the scenario was: Half the classify answers" in screen
    assert child.exitstatus == 0
    seen = kinds(run)
    assert in_order(seen, ["page", "role", "ack", "hint", "note", "diagnosis", "mitigation",
                           "recovered", "resolve", "run_end"]), seen
    who = {e["kind"]: e.get("who") for e in timeline(run)}
    assert who["ack"] == "ann" and who["note"] == "bob" and who["mitigation"] == "ann"
    diagnosis = next(e for e in timeline(run) if e["kind"] == "diagnosis")
    assert diagnosis["correct"] is True
    drill = json.loads((run / "drill.json").read_text())
    assert drill["answer_key"]["root_cause"].startswith("Classifier replica 0")
    score = json.loads((run / "score.json").read_text())
    assert score  # the report module's fields, see docs/timeline.md
    assert children_gone(run) == []


@pytest.mark.slow
def test_ctrl_c_stops_every_child_and_keeps_a_partial_report(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "gameday.cli.main", "drill", "run",
                             str(FIXTURE)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    runs = tmp_path / ".gameday" / "runs"
    try:
        wait_for(lambda: next(iter(runs.iterdir()), None) if runs.exists() else None,
                 "fault_start", 120)
        run = run_folder(tmp_path)
        chaos_pids = [int(p) for p in _pids_of("chaos", run)]
        state = json.loads((run / "stack.json").read_text())
        children = chaos_pids + [p["pid"] for p in state["processes"] if p["pid"]] + [
            json.loads(m.read_text())["pid"] for m in (run / "load").glob("*/load.json")]
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        while any(pid_alive(p) for p in children) and time.monotonic() - t0 < 30:
            time.sleep(0.1)
        children_s = time.monotonic() - t0
        out, _ = proc.communicate(timeout=60)
        stopped = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-2000:]
    assert children_gone(run, timeout=1.0) == [], out[-2000:]
    assert all(not pid_alive(p) for p in chaos_pids)
    print(f"\nCtrl-C: {len(children)} children gone after {children_s:.1f} s; the drill "
          f"exited after {stopped:.1f} s (outputs written)")
    assert children_s <= 10, f"children still running {children_s:.1f} s after Ctrl-C"
    seen = kinds(run)
    assert seen[-1] == "run_end" and timeline(run)[-1]["interrupted"] is True
    assert (run / "report.html").exists() and (run / "score.json").exists()


def _pids_of(word: str, run: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-f", str(run)], capture_output=True, text=True).stdout
    return [p for p in out.split() if word in Path(f"/proc/{p}/cmdline").read_text(
        errors="replace")] if out else []


@pytest.mark.slow
def test_prometheus_and_alertmanager_deliver_the_page(tmp_path):
    require_binary("prometheus")
    if not (shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")):
        require_binary("prometheus-alertmanager")
    gameday(tmp_path, "drill", "run", str(FIXTURE), "--auto", "--prometheus", timeout=300)
    run = run_folder(tmp_path)
    seen = kinds(run)
    assert in_order(seen, ["fault_start", "page", "ack", "mitigation", "recovered"]), seen
    # in this mode the drill does not poll: pages can only have come through the webhook
    events = [json.loads(line)["event"] for line in
              (run / "logs" / "supervisor.log").read_text().splitlines()]
    assert "prometheus_starting" in events and "alertmanager_starting" in events
    config = (run / "alertmanager" / "alertmanager.yml").read_text()
    drill = json.loads((run / "drill.json").read_text())
    assert f"{drill['controller_url']}/alerts" in config
    # Prometheus also scrapes the drill's events (Grafana's drill annotations)
    import yaml

    prom = yaml.safe_load((run / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "gameday-drill")
    assert job["static_configs"][0]["targets"] == [drill["controller_url"].split("//")[1]]
