"""The timeline's one list of kinds matches what gameday writes, and the incremental reader
sees what a whole read sees (gameday.timeline, issue 17)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from gameday.chaos.controls import LOAD_FUNCS
from gameday.drill import eventmetrics
from gameday.timeline import (
    KINDS,
    TimelineReader,
    append_event,
    phase_times,
    read_events,
    read_timeline,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "gameday"
# the functions that append to a run's timeline, and where their kind argument sits
EMITTERS = {"append_event": 1, "emit": 0, "_record": 0}


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def emitted_kinds() -> dict[str, set[str]]:
    """Kind -> the files that write it, from every literal kind passed to an emitter. The
    supervisor's event log (stack/) is not the timeline and is left out."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        if "stack" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            at = EMITTERS.get(name)
            if at is None or len(node.args) <= at:
                continue
            for kind in _strings(node.args[at]):
                found.setdefault(kind, set()).add(str(path.relative_to(SRC)))
    for kind in LOAD_FUNCS.values():  # chaos/controls.py writes these through a mapping
        found.setdefault(kind, set()).add("chaos/controls.py")
    return found


def test_every_kind_written_is_in_kinds_and_every_kind_is_written():
    emitted = emitted_kinds()
    assert len(emitted) > 20  # the scan sees the emitters
    assert sorted(set(emitted) - set(KINDS)) == [], "written but not in timeline.KINDS"
    assert sorted(set(KINDS) - set(emitted)) == [], "in timeline.KINDS but never written"
    assert len(set(KINDS)) == len(KINDS)


def test_docs_describe_every_kind():
    text = (SRC.parents[1] / "docs" / "timeline.md").read_text()
    assert [k for k in KINDS if f"`{k}`" not in text] == []


def test_the_drill_counter_covers_every_kind_a_responder_may_see():
    assert set(eventmetrics.KINDS) | set(eventmetrics.HIDDEN) == set(KINDS)
    assert "fault_start" not in eventmetrics.KINDS and "load_surge" not in eventmetrics.KINDS


def test_the_incremental_reader_sees_what_a_whole_read_sees(tmp_path):
    reader = TimelineReader(tmp_path)
    assert reader.new_events() == []  # no file yet
    append_event(tmp_path, "run_start", ts=100.0, who="drill")
    append_event(tmp_path, "fault_start", ts=110.0, who="chaos")
    assert [e.kind for e in reader.new_events()] == ["run_start", "fault_start"]
    assert reader.new_events() == []
    path = tmp_path / "timeline.jsonl"
    with open(path, "ab") as fh:  # a bad line, then half a line still being written
        fh.write(b"not json\n" + json.dumps({"ts": 120.0, "kind": "page"}).encode()[:10])
    assert reader.new_events() == [] and len(reader.warnings) == 1
    assert "timeline.jsonl:3" in reader.warnings[0]
    with open(path, "ab") as fh:
        fh.write(json.dumps({"ts": 120.0, "kind": "page"}).encode()[10:] + b"\n")
    assert [(e.kind, e.line) for e in reader.new_events()] == [("page", 4)]
    assert reader.first("page", "alert_firing").ts == 120.0
    assert reader.first("resolve") is None
    whole, _ = read_timeline(path)
    assert [(e.ts, e.kind, e.line) for e in whole] == \
        [(e.ts, e.kind, e.line) for e in reader.events]


def test_phases_start_at_impact_and_ignore_earlier_alerts(tmp_path):
    append_event(tmp_path, "alert_firing", ts=50.0, alert="noise")
    append_event(tmp_path, "load_start", ts=60.0)
    append_event(tmp_path, "fault_start", ts=100.0)
    append_event(tmp_path, "page", ts=130.0)
    events, _ = read_timeline(tmp_path / "timeline.jsonl")
    times = phase_times(events)
    assert times["impact_start"] == 100.0 and times["detected"] == 130.0
    assert times["resolved"] is None
    assert [e["kind"] for e in read_events(tmp_path)][:2] == ["alert_firing", "load_start"]
