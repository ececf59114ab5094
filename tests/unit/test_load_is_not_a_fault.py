"""Load is not a fault (issue 17): the drill's steady load and the load an experiment adds
are never listed as faults, and impact starts at the first fault; only when extra traffic is
all the experiment does (an overload) does its surge start the impact."""

from __future__ import annotations

from gameday.drill.eventmetrics import EventCounts
from gameday.postmortem.facts import collect_facts
from gameday.postmortem.render import render_postmortem
from gameday.report.run import load_run
from gameday.timeline import phase_times
from tests.unit.test_postmortem_render import T0, make_run

STEADY = {"ts": T0, "kind": "load_start", "who": "drill", "users": 6, "shape": "steady",
          "text": "steady load, 6 users"}
FAULT = {"ts": T0 + 20, "kind": "fault_start", "who": "chaos", "service": "llm",
         "fault": {"type": "kv_cache_pressure", "params": {"slots_lost": 7}, "ttl_s": 300},
         "text": "chaos injected a kv_cache_pressure fault on llm for 5m"}
SURGE = {"ts": T0 + 21, "kind": "load_surge", "who": "chaos", "users": 12, "shape": "steady",
         "text": "more-users: start_load {\"users\":12}"}
PAGE = {"ts": T0 + 40, "kind": "alert_firing", "alert": "LlmTimeToFirstTokenBudgetBurn",
        "severity": "page"}
BY_HAND = {"ts": T0 + 25, "kind": "fault_start", "who": "ann", "service": "classifier",
           "fault": {"type": "latency", "params": {"delay_ms": 300}, "ttl_s": 60},
           "text": "ann injected a latency fault on classifier for 1m"}


def test_load_is_never_listed_as_a_fault_and_impact_starts_at_the_fault(tmp_path):
    run = make_run(tmp_path / "r", events=[STEADY, FAULT, SURGE, BY_HAND, PAGE], score={},
                   status=None)
    facts = collect_facts(run)
    assert [(f["type"], f["service"], f["who"]) for f in facts["faults"]] == [
        ("kv_cache_pressure", "llm", "chaos"), ("latency", "classifier", "ann")]
    assert facts["impact"]["start"] == "2026-11-18 11:07:00"  # T0 + 20, not the load
    assert phase_times(load_run(run).events)["impact_start"] == T0 + 20
    draft = render_postmortem(facts)
    assert "`latency` on classifier: ann injected a latency fault" in draft
    assert "start_load` on" not in draft


def test_an_overload_s_impact_starts_with_the_surge_not_the_steady_load(tmp_path):
    run = make_run(tmp_path / "r", events=[STEADY, SURGE, PAGE], score={}, status=None)
    facts = collect_facts(run)
    assert facts["faults"] == []
    assert facts["impact"]["start"] == "2026-11-18 11:07:01"  # T0 + 21
    assert phase_times(load_run(run).events)["impact_start"] == T0 + 21


def test_the_surge_stays_out_of_the_drill_s_event_counter():
    counts = EventCounts()
    counts.count(SURGE)
    counts.count(STEADY)
    text = counts.render()
    assert "load_surge" not in text and 'kind="load_start"} 1' in text
