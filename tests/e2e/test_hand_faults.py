"""A fault added by hand during a drill (``gameday faults add``, as a person would from
another terminal) is on the run's timeline with who added it, and in the report and the
postmortem draft, like the experiment's own faults (issue 17)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_cheats import incident, resolve_and_finish, start_drill
from tests.e2e.test_drill import gameday, timeline, wait_for

pytestmark = pytest.mark.slow


def test_a_fault_added_by_hand_is_in_the_timeline_report_and_postmortem(tmp_path):
    proc, run = start_drill(tmp_path)
    try:
        wait_for(run, "page", 150)
        added = gameday(tmp_path, "faults", "add", "features", "latency", "-p", "delay_ms=1",
                        "--ttl", "2m", "--run", run.name, "--who", "ann").stdout
        ids = re.findall(r"added latency fault (\w+) to features-\d", added)
        assert ids, added
        gameday(tmp_path, "faults", "clear", "features", "--run", run.name, "--who", "ann")
        incident(tmp_path, "mitigate", "eject_replica", "--arg", "upstream=classifier",
                 "--arg", "replica=0")
        _, score, report = resolve_and_finish(tmp_path, proc, run)
    finally:
        if proc.poll() is None:
            proc.kill()
    events = timeline(run)
    [start] = [e for e in events if e["kind"] == "fault_start" and e.get("who") == "ann"]
    assert start["service"] == "features" and start["fault"]["type"] == "latency"
    assert start["fault"]["ttl_s"] == 120 and start["fault_ids"] == ids
    [end] = [e for e in events if e["kind"] == "fault_end" and e.get("who") == "ann"]
    assert end["ts"] > start["ts"] and end["cleared"] == len(ids)
    # the scenario's own fault is still the first: the hand fault came after the page
    first = next(e for e in events if e["kind"] == "fault_start")
    assert first["who"] == "chaos" and score["phases"]["impact_start"] == first["ts"]
    said = "ann injected a latency fault on features for 2m"
    assert f"| ann | fault_start | {said}" in report, report
    assert "| ann | fault_end | ann cleared" in report
    draft = (run / "postmortem.md").read_text()
    assert f"`latency` on features: {said}" in draft, draft
    assert f"| ann | fault_start | {said}" in draft, draft
