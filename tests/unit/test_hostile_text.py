"""Text that is not valid Unicode (lone surrogates) from outside: refused or replaced at the
boundary, never written to the timeline, and a hand-corrupted timeline is read line by
line: report and postmortem still come out, naming the lines they skipped."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.drill.api import IncidentServer
from gameday.errors import ValidationError
from gameday.prometheus.webhook import parse_webhook
from gameday.text import clean_json, validate_text
from gameday.timeline import append_event, read_events, read_timeline, timeline_path
from tests.unit.test_report_support import make_run

HOSTILE = {"alerts": [{"status": "firing", "labels": {"alertname": "\ud800",
                                                      "severity": "page\udcff"},
                       "annotations": {"summary": "x\udfff"}}]}


def test_clean_json_and_validate_text():
    assert clean_json({"a\ud800": ["\udcff", 1.5, float("nan"), (1, True, None)]}) == \
        {"a\ufffd": ["\ufffd", 1.5, None, [1, True, None]]}
    assert clean_json("ok \U0001f600") == "ok \U0001f600"  # a real astral character stays
    validate_text({"text": "fine, caf\u00e9 \U0001f600"}, "note")
    with pytest.raises(ValidationError,
                       match=r"note\.text: not valid Unicode text .*got 'bad \\udcff'"):
        validate_text({"who": "ann", "text": "bad \udcff"}, "note")


def test_timeline_lines_are_always_strict_utf8_json(tmp_path):
    event = append_event(tmp_path, "note", text="\ud800 hi", value=float("inf"),
                         where=tmp_path, nested={"k\udc80": ["\udfff"]})
    raw = timeline_path(tmp_path).read_bytes()
    line = json.loads(raw.decode("utf-8", errors="strict"),
                      parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert line == event
    assert event["text"] == "\ufffd hi" and event["value"] is None
    assert event["where"] == str(tmp_path) and event["nested"] == {"k\ufffd": ["\ufffd"]}
    [back] = read_events(tmp_path)
    assert back["text"] == "\ufffd hi"


def test_webhook_replaces_bad_text_instead_of_refusing_the_batch():
    [notice] = parse_webhook(HOSTILE)
    assert notice.alertname == "\ufffd" and notice.severity == "page\ufffd"
    assert notice.summary == "x\ufffd"


def corrupt(run, extra: list[bytes]) -> None:
    path = run / "timeline.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3] + [x + b"\n" for x in extra] + lines[3:]))


BAD_LINES = [
    b'{"ts": 1800000061, "kind": "alert_firing", "alert": "\\ud800", "text": "\\udcff"}',
    b'{"ts": 1800000062, "kind": "note", "text": "\xff\xfe not utf-8"}',
    b"not json at all",
    b"[1, 2]",
    b'{"ts": 1e999, "kind": "note"}',
    b'{"ts": ' + b"1" * 5000 + b', "kind": "note"}',
    b"[" * 100_000 + b"]" * 100_000,
]


def test_readers_survive_a_hand_corrupted_timeline(tmp_path):
    run = make_run(tmp_path)
    corrupt(run, BAD_LINES)
    events, warnings = read_timeline(run / "timeline.jsonl")
    assert [e.get("alert") for e in events if e.line == 4] == ["\ufffd"]
    assert f"{run / 'timeline.jsonl'}:4: text that is not valid Unicode replaced by " \
           f"U+FFFD" in warnings
    for number, why in [(5, "not UTF-8 text"), (6, "not valid JSON"),
                        (7, "expected a JSON object"), (8, "'ts' must be Unix seconds"),
                        (9, "not valid JSON"), (10, "not valid JSON: nested too deeply")]:
        assert any(w.startswith(f"{run / 'timeline.jsonl'}:{number}: {why}") and
                   w.endswith("line skipped") for w in warnings), (number, warnings)
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "timeline.jsonl:5: not UTF-8 text" in report
    result = runner.invoke(app, ["postmortem", "new", "--run", str(run)])
    assert result.exit_code == 0, result.output
    assert "timeline.jsonl:6: not valid JSON" in result.output
    (run / "postmortem.md").read_text(encoding="utf-8")


def test_incident_cli_refuses_undecodable_arguments_with_exit_2(tmp_path):
    # undecodable bytes in argv reach Python as lone surrogates (surrogateescape)
    result = subprocess.run([sys.executable.encode(), b"-m", b"gameday.cli.main", b"incident",
                             b"note", b"bad \xff bytes"], cwd=tmp_path, capture_output=True,
                            timeout=60)
    assert result.returncode == 2, result.stderr
    assert b"error: note.text: not valid Unicode text" in result.stderr
    assert b"Traceback" not in result.stderr


def test_incident_api_refuses_bad_text_and_cleans_alerts_on_loopback():
    seen_actions, seen_alerts = [], []

    def on_action(action, body):
        seen_actions.append((action, body))
        return 200, {"ok": True, "message": "noted"}

    def on_alerts(body):
        seen_alerts.append(parse_webhook(body))
        return 200, {"ok": True}

    server = IncidentServer("tok", on_action, on_alerts).start()
    try:
        auth = {"Authorization": "Bearer tok", "Content-Type": "application/json"}
        bad_note = b'{"text": "\\ud800", "who": "eve"}'
        resp = httpx.post(f"{server.url}/incident/note", content=bad_note, headers=auth)
        assert resp.status_code == 400 and "body.text: not valid Unicode text" in \
            resp.json()["message"]
        resp = httpx.post(f"{server.url}/incident/note", content=b"[" * 60_000, headers=auth)
        assert resp.status_code == 400
        resp = httpx.post(f"{server.url}/alerts", content=json.dumps(HOSTILE).encode())
        assert resp.status_code == 200, resp.text
        resp = httpx.post(f"{server.url}/incident/note", json={"text": "ok \U0001f600"},
                          headers=auth)
        assert resp.status_code == 200
    finally:
        server.stop()
    assert seen_actions == [("note", {"text": "ok \U0001f600"})]
    assert seen_alerts[0][0].alertname == "\ufffd"
