"""A whole drill survives text that is not valid Unicode from outside: an Alertmanager
webhook with a lone surrogate in its labels (replaced by U+FFFD, the batch kept), an
incident note carrying one (refused: 400 over HTTP, exit 2 from the CLI). The drill still
ends well and writes its report and postmortem, and `gameday report`, `postmortem new` and
`incident status` work on the run."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from tests.e2e.test_drill import FIXTURE, gameday, run_folder, timeline, wait_for

WEBHOOK = (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", '
           b'"labels": {"alertname": "\\ud800", "severity": "page", "team": "\\udcff"}, '
           b'"annotations": {"summary": "x\\udfff"}}]}')


def drill_file(tmp_path) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = tmp_path / ".gameday" / "runs"
        for run in runs.iterdir() if runs.exists() else []:
            try:
                body = json.loads((run / "drill.json").read_text())
            except (OSError, ValueError):
                continue
            if body.get("controller_url"):
                return body
        time.sleep(0.5)
    raise AssertionError("no drill.json with a controller_url after 120 s")


@pytest.mark.slow
def test_hostile_text_does_not_cost_the_drill_its_outputs(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "gameday.cli.main", "drill", "run",
                             str(FIXTURE), "--auto"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        url = drill_file(tmp_path)["controller_url"]
        run = run_folder(tmp_path)
        wait_for(run, "steady_state", 120)
        token = (run / "responder.token").read_text().strip()  # a drill token, not the admin one
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        resp = httpx.post(f"{url}/alerts", content=WEBHOOK,
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert resp.status_code == 200, resp.text
        resp = httpx.post(f"{url}/incident/note", content=b'{"text": "\\ud800 boom"}',
                          headers=auth, timeout=10)
        assert resp.status_code == 400 and "not valid Unicode text" in resp.json()["message"]
        cli = subprocess.run([sys.executable.encode(), b"-m", b"gameday.cli.main", b"incident",
                              b"note", b"bytes \xff\xfe here"], cwd=tmp_path,
                             capture_output=True, timeout=60)
        assert cli.returncode == 2 and b"not valid Unicode text" in cli.stderr, cli.stderr
        gameday(tmp_path, "incident", "note", "still fine \u2014 caf\u00e9 \U0001f525")
        status = json.loads(gameday(tmp_path, "incident", "status", "--json").stdout)
        assert status["scenario"]
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = out.decode("utf-8", errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert "Traceback" not in text and "UnicodeEncodeError" not in text, text[-3000:]
    for name in ("report.md", "report.html", "postmortem.md", "score.json"):
        assert (run / name).is_file(), name
    raw = (run / "timeline.jsonl").read_bytes()
    raw.decode("utf-8")  # strict
    assert b"\\ud800" not in raw.lower() and b"\\udcff" not in raw.lower()
    events = timeline(run)
    assert any(e.get("alert") == "\ufffd" for e in events), [e["kind"] for e in events]
    assert any(e.get("text") == "still fine \u2014 caf\u00e9 \U0001f525" for e in events)
    gameday(tmp_path, "report", str(run))
    gameday(tmp_path, "postmortem", "new", "--run", str(run), "--force")
