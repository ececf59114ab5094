"""A drill injects its fault only after every alert has been quiet for the settle period;
one that cannot get quiet stops before any fault and says why."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from gameday.drill.alerts import ActiveAlert, AlertBook
from gameday.drill.controller import Drill, DrillOptions
from gameday.drill.steady import QuietClock
from gameday.timeline import read_events


def test_quiet_clock_restarts_when_an_alert_fires():
    clock = QuietClock(settle_s=10)
    clock.observe([], now=100.0)
    assert not clock.settled(105.0)
    clock.observe(["GatewayAvailabilityBudgetBurn (page)"], now=106.0)
    assert not clock.settled(120.0)
    assert clock.describe(120.0) == "still firing: GatewayAvailabilityBudgetBurn (page)"
    clock.observe([], now=121.0)
    assert clock.describe(125.0) == "quiet for only 4 s of the 10 s settle period"
    assert not clock.settled(130.0) and clock.settled(131.0)


def alert(name, severity="ticket"):
    return ActiveAlert(name, severity, "classifier-classifier-prediction-quality", None,
                       None, time.time())


def make_drill(tmp_path, **options):
    # No probes in the hypothesis: only the alerts decide; alerts come from the book alone.
    scenario = SimpleNamespace(experiment={}, alerts=["GatewayAvailabilityBudgetBurn"])
    opt = DrillOptions(mode="auto", warmup_s=0, prometheus=True, **options)
    drill = Drill(scenario, opt)
    drill.run_path = tmp_path
    drill.book = AlertBook(drill.emit)
    return drill


def test_an_alert_that_never_clears_stops_the_drill_before_any_fault(tmp_path):
    drill = make_drill(tmp_path, steady_timeout_s=1.5, settle_s=1.0)
    # not one of the scenario's alerts: any alert makes the start dirty
    drill.book.replace([alert("ClassifierPredictionQualityBudgetBurn")])
    assert drill._wait_steady() is False
    assert drill.outcome["error"] == ("baseline steady state not met: alerts still firing: "
                                      "ClassifierPredictionQualityBudgetBurn (ticket)")
    last = [e for e in read_events(tmp_path) if e["kind"] == "steady_state"][-1]
    assert last["ok"] is False and "no fault injected" in last["text"]


def test_the_fault_waits_for_the_settle_period_after_the_last_alert(tmp_path):
    drill = make_drill(tmp_path, steady_timeout_s=20, settle_s=1.5)
    drill.book.replace([alert("ClassifierPredictionQualityBudgetBurn")])
    cleared = []

    def clear():
        drill.book.replace([])
        cleared.append(time.monotonic())

    timer = threading.Timer(1.0, clear)
    timer.start()
    try:
        assert drill._wait_steady() is True
    finally:
        timer.cancel()
    assert time.monotonic() - cleared[0] >= 1.5
    kinds = [e["kind"] for e in read_events(tmp_path)]
    assert kinds == ["alert_firing", "ticket", "alert_resolved", "steady_state"]


def test_the_drill_file_names_the_catalog_the_stack_runs(tmp_path):
    import json

    from gameday.runfolder import Run

    drill = make_drill(tmp_path)
    assert drill._catalog() == "drill-12h"  # no spec yet: the drills' default
    Run(tmp_path).spec_path.write_text(json.dumps({"settings": {"catalog": "google-30d"}}))
    assert drill._catalog() == "google-30d"  # what score.json must replay
