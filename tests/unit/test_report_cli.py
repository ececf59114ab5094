"""`gameday report RUN_DIR`: outputs on success, exit 2 naming the file on bad input."""

import gzip

from typer.testing import CliRunner

from gameday.cli.main import app
from tests.unit.test_report_support import make_run

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["report", *map(str, args)])


def test_writes_the_outputs(tmp_path):
    run = make_run(tmp_path)
    result = invoke(run)
    assert result.exit_code == 0, result.output
    assert f"wrote {run / 'report.html'}" in result.output
    assert (run / "charts" / "burn-rate.png").is_file() and (run / "score.json").is_file()


def test_missing_folder(tmp_path):
    result = invoke(tmp_path / "nope")
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope'}: no such run folder" in result.output


def test_missing_timeline(tmp_path):
    run = make_run(tmp_path)
    (run / "timeline.jsonl").unlink()
    result = invoke(run)
    assert result.exit_code == 2 and f"{run / 'timeline.jsonl'}: no such file" in result.output


def test_bad_timeline_line(tmp_path):
    run = make_run(tmp_path)
    with open(run / "timeline.jsonl", "r+") as fh:
        lines = fh.readlines()
        lines[1] = "{oops\n"
        fh.seek(0)
        fh.writelines(lines)
    result = invoke(run)  # skipped and named in the report's notes, not fatal
    assert result.exit_code == 0, result.output
    assert f"{run / 'timeline.jsonl'}:2: not valid JSON" in (run / "report.md").read_text()


def test_missing_or_bad_recording(tmp_path):
    run = make_run(tmp_path)
    recording = run / "recording.jsonl.gz"
    recording.unlink()
    result = invoke(run)
    assert result.exit_code == 2 and f"{recording}: no such recording" in result.output
    recording.write_bytes(b"not gzip")
    result = invoke(run)
    assert result.exit_code == 2 and f"{recording}: not a gameday recording" in result.output
    with gzip.open(recording, "wt") as fh:
        fh.write('{"kind": "something-else", "version": 1}\n')
    result = invoke(run)
    assert result.exit_code == 2 and "expected gameday-recording v1" in result.output


def test_bad_drill_json(tmp_path):
    run = make_run(tmp_path)
    (run / "drill.json").write_text("[1, 2]")
    result = invoke(run)
    assert result.exit_code == 2 and f"{run / 'drill.json'}: expected a JSON object" in \
        result.output
