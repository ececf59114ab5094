"""The game-day web console in real headless Chromium (issue 19 item 1), on a real drill.

One interactive drill of the one-bad-replica test scenario, run with ``--console-linger``:
the facilitator's tab shows the answer key; the responder's tab does not (and the
responder's token cannot reach it through the API either); the charts grow while the drill
runs; from the page the responder acks, takes a hint, pulls the right lever with its
arguments and resolves; then the same page opens on the debrief. Screenshots of each view go
to the test's tmp folder (and to $GAMEDAY_CONSOLE_SHOTS when set: docs/console/*.png).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_binary
from tests.procs import wait_until

FIXTURE = Path(__file__).with_name("fixtures") / "one-bad-replica.json"
ROOT_CAUSE = "Classifier replica 0 answers every request with a 500 error"

HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def events(run: Path) -> list[dict]:
    path = run / "timeline.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    require_binary("chromium")
    require_binary("chromedriver")
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,2600", "--disable-gpu"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def token_files(run: Path) -> tuple[Path, Path | None]:
    """(responder's, facilitator's) token files of the run (per drill.json's names)."""
    responder, facilitator = run / "responder.token", run / "facilitator.token"
    if responder.exists():
        return responder, facilitator if facilitator.exists() else None
    return run / "token", None  # before per-role tokens


class Tab:
    """One browser tab signed in with one token."""

    def __init__(self, driver, handle: str) -> None:
        self.driver = driver
        self.handle = handle

    def __enter__(self):
        self.driver.switch_to.window(self.handle)
        return self

    def __exit__(self, *exc) -> None:
        pass

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.find(css).text

    def wait_text(self, css: str, needle: str, timeout: float = 30) -> str:
        return wait_until(lambda: needle in self.text(css) and self.text(css), timeout,
                          f"{needle!r} in {css}")

    def submit(self, form: str) -> str:
        """Submits ``form`` and returns the answer the page shows."""
        return self.press(f"#{form} button[type=submit]")

    def press(self, css: str) -> str:
        """Clicks the button ``css`` and returns the answer the page shows."""
        self.driver.execute_script("document.getElementById('action-result').textContent=''")
        self.find(css).click()
        return wait_until(lambda: self.text("#action-result"), 30, f"answer to {css}")

    def shot(self, folder: Path, name: str) -> Path:
        path = folder / name
        self.driver.save_screenshot(str(path))
        return path


def sign_in(driver, url: str, token: str, who: str) -> Tab:
    driver.switch_to.new_window("tab")
    tab = Tab(driver, driver.current_window_handle)
    driver.get(f"{url}/console")
    tab.find("#token").send_keys(token)
    tab.find("#who").send_keys(who)
    tab.find("#login-form button").click()
    wait_until(lambda: tab.text("#role"), 30, "the first state")
    return tab


def chart_points(tab: Tab) -> dict:
    return tab.driver.execute_script(
        "const c = window.gamedayCharts; return Object.fromEntries(Object.keys(c).map("
        "(k) => [k, c[k].plot ? c[k].plot.data[0].length : 0]))")


@pytest.mark.long
@pytest.mark.slow
def test_a_team_works_a_drill_from_the_console(tmp_path):
    driver = chromium()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(FIXTURE, scenarios / FIXTURE.name)
    home = tmp_path / "facilitator"
    home.mkdir()
    out = open(tmp_path / "drill-output.txt", "w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMEDAY_")}
    drill = subprocess.Popen([sys.executable, "-m", "gameday.cli.main", "drill", "run",
                              "one-bad-replica", "--scenarios", str(scenarios),
                              "--console-linger"], cwd=home, stdout=out,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env={**env, "COLUMNS": "200"})
    try:
        runs = home / ".gameday" / "runs"
        run = wait_until(lambda: next(iter(runs.iterdir()), None) if runs.exists() else None,
                         60, "run folder")
        url = wait_until(lambda: (run / "drill.json").exists() and json.loads(
            (run / "drill.json").read_text()).get("controller_url"), 60, "controller URL")
        responder_file, facilitator_file = wait_until(
            lambda: token_files(run) if token_files(run)[0].exists() else None, 60, "tokens")
        responder_token = responder_file.read_text().strip()

        # the facilitator's view: the answer key, the hints not taken, the controls
        fac = None
        if facilitator_file is not None:
            fac = sign_in(driver, url, facilitator_file.read_text().strip(), "fran")
            with fac:
                assert fac.text("#role") == "facilitator"
                fac.wait_text("#answer-key", ROOT_CAUSE)
                fac.wait_text("#hints-remaining", "Compare the classifier replicas")
                # the facilitator's controls (drill/facilitator.py answers them)
                assert "paused" in fac.press("[data-fac=pause]")
                assert "resumed" in fac.press("[data-fac=resume]")
                assert "extended by 60 s" in fac.press("[data-fac=extend]")

        res = sign_in(driver, url, responder_token, "amy")
        with res:
            assert res.text("#role") == "responder"
            assert not res.find("#facilitator").is_displayed()
            assert ROOT_CAUSE not in driver.page_source
            # the responder's token against the API: no answer key there either
            headers = {"Authorization": f"Bearer {responder_token}"}
            if facilitator_file is not None:
                assert httpx.get(f"{url}/facilitator/state", headers=headers,
                                 timeout=5).status_code == 403
            with httpx.stream("GET", f"{url}/console/stream", headers=headers,
                              timeout=10) as resp:
                first = next(resp.iter_text())
            assert "event: state" in first and ROOT_CAUSE not in first
            assert "answer_key" not in first

            # the charts grow while the drill runs, without a reload
            before = wait_until(lambda: chart_points(res).get("burn"), 60, "a first point")
            time.sleep(4)
            after = chart_points(res)["burn"]
            assert after > before, (before, after)

            # a page arrives: ack it, take a hint, pull the right lever, resolve
            res.wait_text("#pages tbody", "GatewayAvailabilityBudgetBurn", timeout=240)
            res.find("#pages tbody button").click()  # the runbook, rendered
            res.wait_text("#runbook", "What it means")
            assert "acknowledged" in res.submit("ack-form")
            assert "hint" in res.submit("hint-form")
            res.wait_text("#hints", "Compare the classifier replicas")
            from selenium.webdriver.support.ui import Select

            Select(res.find("#lever")).select_by_value("eject_replica")
            res.find("#lever-args input[name=upstream]").send_keys("classifier")
            res.find("#lever-args input[name=replica]").send_keys("0")
            assert "eject_replica done" in res.submit("mitigate-form")
            res.wait_text("#timeline", "mitigation")
            Select(res.find("#role-name")).select_by_visible_text("commander")
            res.submit("role-form")
            res.find("#note-text").send_keys(HOSTILE)
            assert "noted" in res.submit("note-form")
            res.wait_text("#timeline", HOSTILE)  # shown as the text it is
            assert driver.execute_script("return document.querySelectorAll('img').length "
                                         "+ (window.pwned || 0)") == 0
            res.submit("escalate-form")
            Select(res.find("#diag-component")).select_by_value("classifier replica 0")
            Select(res.find("#diag-mode")).select_by_value("answers 500 to every request")
            assert "diagnosis recorded" in res.submit("diagnose-form")
            res.shot(shots, "responder.png")
        if fac is not None:
            with fac:  # the hint taken has left the facilitator's list
                fac.wait_text("#timeline", "diagnosis")
                fac.find("#judge-correct option[value=false]").click()
                fac.find("#judge-reason").send_keys("say why replica 0")
                assert "judged wrong" in fac.submit("judge-form")
                assert "Compare the classifier replicas" not in fac.text("#hints-remaining")
                fac.shot(shots, "facilitator.png")
        with res:
            wait_until(lambda: any(e["kind"] == "recovered" for e in events(run)), 150,
                       "recovery")
            assert "resolved" in res.submit("resolve-form")

            # the drill ends: the same page opens on the debrief
            res.wait_text("#debrief-body", "What the team did", timeout=240)
            debrief = res.text("#debrief-body")
            assert "eject_replica" in debrief and "helped" in debrief
            assert "hint 1 taken by amy" in debrief
            res.shot(shots, "debrief.png")
    finally:
        driver.quit()
        if drill.poll() is None:
            drill.send_signal(signal.SIGINT)
            try:
                drill.wait(timeout=60)
            except subprocess.TimeoutExpired:
                drill.kill()
        out.close()
        target = os.environ.get("GAMEDAY_CONSOLE_SHOTS")
        if target:
            for shot in shots.glob("*.png"):
                shutil.copy(shot, Path(target) / shot.name)

    timeline = events(run)
    acted = {(e["kind"], e.get("who")) for e in timeline}
    assert {("ack", "amy"), ("hint", "amy"), ("mitigation", "amy"), ("note", "amy"),
            ("escalate", "amy"), ("diagnosis", "amy"), ("resolve", "amy")} <= acted, acted
    by_facilitator = {e["kind"] for e in timeline if e.get("who") == "fran"}
    assert {"pause", "resume", "extend", "diagnosis_judged"} <= by_facilitator, by_facilitator


def test_hostile_text_shows_as_text(tmp_path):
    """Scenario text, labels, notes, hints, the answer key and metric labels holding HTML
    show as that text: no element is injected and no script runs (a console on a fake API,
    in a few seconds)."""
    from gameday.drill.console import Console
    from gameday.drill.console.snapshot import MetricsFeed
    from gameday.listener import HandlerApp, Listener, Reply
    from gameday.timeline import append_event

    run = tmp_path / "runs" / "20261203-120000-cccc"
    append_event(run, "note", who=HOSTILE, text=HOSTILE)
    past = tmp_path / "runs" / "20261203-110000-aaaa"  # an earlier drill, for the history
    append_event(past, "ack", ts=1e9, who=HOSTILE)
    (past / "drill.json").write_text(json.dumps({"scenario": HOSTILE, "mode": HOSTILE,
                                                 "started_at": 1e9}))
    (past / "score.json").write_text(json.dumps({
        "scenario": HOSTILE, "mode": HOSTILE, "durations_s": {"detect": 3, "mitigate": 9,
                                                              "recover": 40},
        "points": {"percent": 80.0}, "verdict": {"result": HOSTILE}}))
    feed = MetricsFeed(lambda: None)
    for t in range(3):
        feed.add({"t": 1e9 + t, "burn": {HOSTILE: 1.0}, "error_ratio": {HOSTILE: 0.1},
                  "latency_p99_s": {HOSTILE: 0.2}})
    incident = {"ok": True, "scenario": {"title": HOSTILE, "briefing": HOSTILE},
                "pages": [{"alert": HOSTILE, "severity": HOSTILE, "slo_id": HOSTILE,
                           "burn_rate": 3.0}], "hints": [HOSTILE], "hints_left": 0,
                "diagnosis_choices": {"components": [HOSTILE], "failure_modes": [HOSTILE]},
                "burn_now": {HOSTILE: {"window": HOSTILE, "burn": 1.0}}}
    facilitator = {"answer_key": {HOSTILE: HOSTILE}, "hints_remaining": [HOSTILE],
                   "fault": {"active": [{"target": HOSTILE}]}}

    def api(request):
        if request.headers.get("authorization") != "Bearer F":
            return Reply(401, {"ok": False})
        return Reply(200, incident if request.path == "/incident" else facilitator)

    console = Console(lambda: run, api, feed, lambda: False)

    def handle(request):
        role = "facilitator" if request.headers.get("authorization") == "Bearer F" else None
        return console(request, role)

    listener = Listener(HandlerApp(handle, name="console-test"), name="console-test").start()
    driver = chromium()
    try:
        tab = sign_in(driver, listener.url, "F", HOSTILE)
        tab.wait_text("#answer-key", HOSTILE)
        tab.wait_text("#timeline", HOSTILE)
        wait_until(lambda: chart_points(tab).get("burn"), 10, "the charts")
        assert tab.text("#title") == HOSTILE
        assert HOSTILE in tab.text("#pages tbody") and HOSTILE in tab.text("#hints")
        assert HOSTILE in tab.text("#charts-box")  # the series' labels
        history = tab.wait_text("#history tbody", HOSTILE)  # the earlier drill, as text
        assert "80%" in history and "40 s" in history
        assert driver.find_elements("css selector", "#chart-history canvas")
        counts = driver.execute_script(
            "return [document.querySelectorAll('img').length, "
            "document.querySelectorAll('script').length, window.pwned || 0]")
        assert counts == [0, 2, 0], counts
        tab.shot(tmp_path, "hostile.png")
    finally:
        driver.quit()
        listener.stop()
