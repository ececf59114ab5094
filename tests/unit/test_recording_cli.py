"""``gameday recording info|stitch|export|import`` as a user sees them."""

import json
import os

import yaml
from typer.testing import CliRunner

from gameday.cli.main import app
from tests.recfab import make_recording, scrapes_of

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["recording", *map(str, args)])


def one_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_info_says_what_a_recording_holds(tmp_path):
    rec = make_recording(tmp_path / "r.jsonl.gz", steps=10, down_at=(2,))
    result = invoke("info", rec)
    assert result.exit_code == 0, result.output
    assert "scrapes    20 (1 failed)" in result.stdout
    assert "provenance recorded (a plain recording)" in result.stdout
    facts = json.loads(invoke("info", rec, "--json").stdout)
    assert facts["series"] == 19 and facts["interval_s"] == 1.0
    assert [t["job"] for t in facts["targets"]] == ["gateway", "llm"]


def test_stitch_writes_shows_progress_and_never_overwrites_without_force(tmp_path):
    make_recording(tmp_path / "r.jsonl.gz", steps=10)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"interval": "1s", "start": "2026-01-05T00:00:00Z",
                                    "segments": [{"recording": "r.jsonl.gz",
                                                  "repeat_for": "1m"}]}))
    out = tmp_path / "day.jsonl.gz"
    result = invoke("stitch", plan, "-o", out)
    assert result.exit_code == 0, result.output
    assert "stitching day.jsonl.gz: 100% (60s of 60s" in result.stderr
    assert "60s at 1s from 1 segment(s), 120 scrapes" in result.stdout
    info = invoke("info", out).stdout
    assert "provenance stitched by plan plan.yaml, 1 segment(s):" in info
    assert "r.jsonl.gz [10s x6]" in info
    before = out.read_bytes()
    assert one_error(invoke("stitch", plan, "-o", out)) == \
        f"error: {out}: already exists; pass --force to replace it"
    assert out.read_bytes() == before
    assert invoke("stitch", plan, "-o", out, "--force").exit_code == 0
    assert out.stat().st_mode & 0o044 or os.umask(os.umask(0)) & 0o044  # readable as usual
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day.jsonl.gz", "plan.yaml",
                                                         "r.jsonl.gz"]


def test_a_bad_plan_is_one_line_naming_file_field_and_value(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("interval: 15s\nstart: 0\nsegments:\n  - recording: quiet-day\n")
    line = one_error(invoke("stitch", plan, "-o", tmp_path / "o.jsonl.gz"))
    assert line.startswith(f"error: {plan}: segments[0].recording: recording 'quiet-day': "
                           "no such file")
    assert not (tmp_path / "o.jsonl.gz").exists()


def test_export_then_import_round_trips(tmp_path):
    rec = make_recording(tmp_path / "r.jsonl.gz", steps=6, down_at=(1,))
    result = invoke("export", rec, "-o", tmp_path / "r.om")
    assert result.exit_code == 0, result.output
    assert "then: promtool tsdb create-blocks-from openmetrics" in result.stdout
    assert (tmp_path / "r.om").read_text().endswith("# EOF\n")
    result = invoke("import", tmp_path / "r.om", "-o", tmp_path / "back.jsonl.gz")
    assert result.exit_code == 0, result.output
    assert sorted(scrapes_of(tmp_path / "back.jsonl.gz")) == sorted(scrapes_of(rec))
    info = invoke("info", tmp_path / "back.jsonl.gz").stdout
    assert "provenance imported from r.om (sha256 " in info
    line = one_error(invoke("import", tmp_path / "nope.om", "-o", tmp_path / "x.jsonl.gz"))
    assert line == f"error: {tmp_path / 'nope.om'}: no such file"
    (tmp_path / "cut.om").write_text("# TYPE up gauge\nup 1 100\n")
    line = one_error(invoke("import", tmp_path / "cut.om", "-o", tmp_path / "x.jsonl.gz"))
    assert "cut.om: no '# EOF' line" in line and not (tmp_path / "x.jsonl.gz").exists()


def test_info_summarises_a_live_recordings_provenance(tmp_path):
    from gameday.engine.exposition import Sample
    from gameday.engine.recording import RecordingWriter

    writer = RecordingWriter(tmp_path / "live.jsonl.gz", 100.0, 1.0, extra={"provenance": {
        "recorded": True, "stitched": False, "tool": "gameday record",
        "gameday_version": "1.2.3", "load": {"profile": "steady", "users": 10},
        "fault_schedule": {"file": "f.yaml", "faults": [{"at": 60}, {"at": 120}]}}})
    writer.write_scrape(100.0, "gateway", "127.0.0.1:1", {}, [Sample("x_total", (), 1.0)])
    writer.close()
    info = invoke("info", tmp_path / "live.jsonl.gz").stdout
    assert ("provenance recorded by gameday record (gameday 1.2.3): load steady x10 users, "
            "2 fault(s) scheduled") in info
