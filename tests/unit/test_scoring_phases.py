"""Phase order over any sequence of incident commands (property), and the points scheme."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gameday.drill import incident as incident_module
from gameday.drill.incident import Incident
from gameday.drill.scenario import parse_scenario
from gameday.report.points import PASS_AT, award, phase_order, verdict
from tests.unit.test_drill_parts import write_experiment

COMMANDS = ("page", "ack", "resolve", "recover", "hint", "note")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def time(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return parse_scenario(write_experiment(tmp_path_factory.mktemp("exp")))


@given(st.lists(st.tuples(st.sampled_from(COMMANDS), st.floats(0.0, 30.0)), max_size=25))
def test_no_sequence_of_commands_puts_phases_out_of_order(scenario, tmp_path_factory,
                                                         commands):
    clock = Clock()
    events = []
    original = incident_module.time.time
    incident_module.time.time = clock.time
    try:
        inc = Incident(str(tmp_path_factory.mktemp("run")), scenario,
                       lambda kind, **f: events.append((kind, clock.t)) or f)
        detected = None
        for command, dt in commands:
            clock.t += dt
            if command == "page":
                inc.paged({"alert": "ClassifierPredictionQualityBudgetBurn",
                           "severity": "ticket"})
                detected = detected or clock.t
            elif command == "recover":
                # the drill only declares recovery after a detection
                if detected is not None and inc.recovered_at is None:
                    inc.recovered_at = clock.t
            elif command == "note":
                inc.act("note", {"text": "looking", "who": "ann"})
            else:
                inc.act(command, {"who": "ann"})
    finally:
        incident_module.time.time = original
    phases = {"impact_start": 1000.0, "detected": detected, "acknowledged": inc.acked_at,
              "mitigated": None, "recovered": inc.recovered_at, "resolved": inc.resolved_at}
    assert phase_order(phases) == []
    if inc.resolved_at is not None:
        assert inc.recovered_at is not None and inc.resolved_at >= inc.recovered_at
    if inc.acked_at is not None:
        assert detected is not None and inc.acked_at >= detected


def test_phase_order_names_what_came_first():
    assert phase_order({"impact_start": 10, "detected": 14, "recovered": 30,
                        "resolved": 12}) == ["resolution came before recovery (-18.0 s)"]
    assert phase_order({"impact_start": 10, "resolved": 12}) == [
        "resolved, but the steady state was never met again"]
    assert phase_order({"impact_start": 10, "mitigated": 20, "recovered": 20}) == [
        "recovery came before mitigation (+0.0 s)"]


def scored(**over) -> dict:
    base = {"phases": {"impact_start": 0.0, "detected": 5.0, "acknowledged": 10.0,
                       "mitigated": 30.0, "recovered": 60.0, "resolved": 61.0},
            "durations_s": {"detect": 5.0, "acknowledge": 10.0, "mitigate": 30.0,
                            "recover": 60.0},
            "mitigations": [{"lever": "eject_replica", "grade": "helped", "why": "w"}],
            "hints": {"taken": 0}, "diagnosis": None}
    base.update(over)
    limits = {"detect": 30, "acknowledge": 120, "mitigate": 300, "recover": 360}
    base["points"] = award(base, limits, asked=bool(base.get("diagnosis")))
    return base


def test_hints_wrong_levers_and_reverts_cost_points():
    honest = scored()
    assert honest["points"]["percent"] == 100.0
    assert verdict(honest, ended=True, interrupted=False)["result"] == "pass"
    hinted = scored(hints={"taken": 3})  # 80 available without a diagnosis: 65 / 80
    assert hinted["points"]["points"] == 65 and hinted["points"]["percent"] == 81.2
    wrong = scored(mitigations=[{"lever": "scale_service", "grade": "no effect", "why": "x"},
                                {"lever": "restart_service", "grade": "worse", "why": "y"},
                                {"lever": "eject_replica", "grade": "helped", "why": "w"}])
    assert wrong["points"]["points"] == 65
    ran_out = scored(mitigations=[{"lever": "scale_service", "grade": "no effect", "why": "x"}])
    judged = verdict(ran_out, ended=True, interrupted=False)
    assert judged["result"] == "fail" and judged["reasons"][0].startswith(
        "not mitigated: no lever helped")
    reverted = scored(mitigations=[{"lever": "clear_faults", "grade": "reverted", "why": "z"}],
                      phases={"impact_start": 0.0, "detected": 5.0, "acknowledged": 10.0,
                              "mitigated": None, "recovered": 60.0, "resolved": 61.0},
                      durations_s={"detect": 5.0, "acknowledge": 10.0, "mitigate": None,
                                   "recover": 60.0})
    judged = verdict(reverted, ended=True, interrupted=False)
    assert judged["result"] == "reverted" and judged["reasons"][0].startswith(
        "reverted, not mitigated")
    negated = scored(diagnosis={"attempts": 1, "correct": False})
    assert negated["points"]["available"] == 100 and negated["points"]["points"] == 80
    nothing = scored(phases={"impact_start": 0.0, "detected": 5.0}, durations_s={
        "detect": 5.0, "acknowledge": None, "mitigate": None, "recover": None})
    assert nothing["points"]["percent"] < PASS_AT
    assert verdict(nothing, ended=True, interrupted=False)["result"] == "fail"
    assert verdict(nothing, ended=True, interrupted=True)["result"] == "incomplete"
