"""gameday.timeline: append-only writes, reads that skip a torn last line."""

import json

import pytest

from gameday.timeline import append_event, read_events, timeline_path


def test_append_then_read_in_time_order(tmp_path):
    append_event(tmp_path, "fault_start", ts=20.0, who="chaos", service="classifier",
                 fault={"type": "latency"})
    append_event(tmp_path, "note", ts=10.0, text="first by time")
    append_event(tmp_path, "fault_end", ts=20.0, service="classifier")
    events = read_events(tmp_path)
    assert [e["kind"] for e in events] == ["note", "fault_start", "fault_end"]  # stable
    assert events[1] == {"ts": 20.0, "kind": "fault_start", "who": "chaos",
                         "service": "classifier", "fault": {"type": "latency"}}
    assert events[0]["text"] == "first by time"


def test_append_never_rewrites(tmp_path):
    path = timeline_path(tmp_path)
    path.write_text('{"ts": 1, "kind": "run_start"}\n')
    event = append_event(tmp_path, "note")
    lines = path.read_text().splitlines()
    assert lines[0] == '{"ts": 1, "kind": "run_start"}'
    assert json.loads(lines[1]) == event and event["ts"] > 1


def test_torn_last_line_and_other_bad_lines_are_skipped(tmp_path):
    path = timeline_path(tmp_path)
    path.write_text('{"ts": 1, "kind": "run_start"}\n{"ts": 2, "ki')
    assert [e["kind"] for e in read_events(tmp_path)] == ["run_start"]
    path.write_text('{"ts": 1, "kind": "run_start"}\nnot json\n{"ts": 3, "kind": "x"}\n')
    assert [e["kind"] for e in read_events(tmp_path)] == ["run_start", "x"]


def test_missing_file_reads_empty_and_bad_kind_is_refused(tmp_path):
    assert read_events(tmp_path) == []
    with pytest.raises(ValueError, match="'kind' must be a non-empty string"):
        append_event(tmp_path, "")
    assert timeline_path(tmp_path / "t.jsonl") == tmp_path / "t.jsonl"
