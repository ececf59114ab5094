"""The error-budget safeguard's decisions, and the control that records and interrupts."""

from dataclasses import dataclass

import pytest
from chaoslib.exceptions import InterruptExecution

from gameday.chaos import controls
from gameday.chaos.safeguard import Safeguard, budget_consumed, first_breach, read_remaining
from gameday.timeline import read_events


@dataclass
class Sample:
    labels: dict
    value: float


class FakeAPI:
    def __init__(self, remaining: dict[str, float]) -> None:
        self.remaining = remaining

    def query(self, expr: str):
        ids = {"gw-avail": "gateway-availability", "cl-quality": "prediction-quality"}
        if expr == "slo:error_budget:ratio":
            return [Sample({"sloth_id": i, "sloth_slo": s}, 0.001) for i, s in ids.items()]
        return [Sample({"sloth_id": i, "sloth_slo": ids[i]}, v)
                for i, v in self.remaining.items()]


def test_budget_consumed_since_experiment_or_period():
    now = {"a": 0.7, "b": 0.95, "c": float("nan")}
    assert budget_consumed(now, {"a": 0.9, "b": 0.9}) == pytest.approx({"a": 0.2, "b": 0.0})
    assert budget_consumed(now, None, since="period") == pytest.approx({"a": 0.3, "b": 0.05})
    with pytest.raises(ValueError, match="'since' must be one of experiment, period"):
        budget_consumed(now, None, since="week")


def test_first_breach_takes_the_worst_slo_over_the_limit():
    assert first_breach({"a": 0.2, "b": 0.6, "c": 0.55}, 0.5) == ("b", 0.6)
    assert first_breach({"a": 0.5}, 0.5) is None  # at the limit is not past it
    assert first_breach({}, 0.5) is None


def test_read_remaining_filters_by_id_or_name_and_defaults_to_full():
    api = FakeAPI({"gw-avail": 0.4})
    assert read_remaining(api) == {"gw-avail": 0.4, "cl-quality": 1.0}
    assert read_remaining(api, ["gateway-availability"]) == {"gw-avail": 0.4}
    assert read_remaining(FakeAPI({"gw-avail": 3.0}), ["gw-avail"]) == {"gw-avail": 1.0}


def test_safeguard_trips_once_and_reports():
    api = FakeAPI({"gw-avail": 0.9})
    trips = []
    guard = Safeguard(api, 0.5, ["gw-avail"], on_trip=lambda *a: trips.append(a),
                      halt_now=False)
    guard.begin()
    assert guard.check() is None
    api.remaining["gw-avail"] = 0.3
    reason = guard.check()
    assert reason == ("safeguard: SLO gw-avail consumed 60.0% of its error budget "
                      "(since experiment start), over the limit of 50.0%")
    assert guard.check() == reason and len(trips) == 1
    with pytest.raises(ValueError, match="max_budget_consumed must be above 0"):
        Safeguard(api, 0)
    unknown = Safeguard(api, 0.5, ["nope"])
    with pytest.raises(ValueError, match=r"none of the SLOs \['nope'\]"):
        unknown.begin()


def test_control_interrupts_before_an_activity_and_records(tmp_path):
    api = FakeAPI({"gw-avail": 1.0})
    guard = Safeguard(api, 0.5, on_trip=controls._tripped, halt_now=False)
    guard.begin()
    controls._state.update(run_path=tmp_path, safeguard=guard, phase="method", api=None)
    try:
        activity = {"type": "action", "name": "x",
                    "provider": {"type": "python", "func": "kill_service"}}
        controls.before_activity_control(activity)
        api.remaining["gw-avail"] = 0.2
        with pytest.raises(InterruptExecution, match="consumed 80.0%"):
            controls.before_activity_control(activity)
        controls._state["phase"] = "rollback"
        controls.before_activity_control(activity)  # rollbacks always run
    finally:
        controls._state.update(run_path=None, safeguard=None, phase="setup")
    kinds = [e["kind"] for e in read_events(tmp_path)]
    # a kill in the method is an impact: fault_start as it begins (not in the rollback)
    assert kinds == ["fault_start", "activity_start", "safeguard_tripped", "activity_start"]


def test_control_records_faults_and_other_activities(tmp_path):
    controls._state.update(run_path=tmp_path, safeguard=None, phase="method")
    inject = {"type": "action", "name": "slow",
              "provider": {"type": "python", "func": "inject_fault",
                           "arguments": {"service": "classifier", "fault_type": "latency"}}}
    stored = [{"process": "classifier-0", "id": "f1", "type": "latency",
               "params": {"delay_ms": 300.0}, "route": "/v1/*", "probability": 1.0,
               "ttl_s": 60.0}]
    clear = {"type": "action", "name": "clear",
             "provider": {"type": "python", "func": "clear_faults",
                          "arguments": {"service": "classifier"}}}
    probe = {"type": "probe", "name": "p", "provider": {"type": "python", "func": "x"}}
    try:
        controls.before_activity_control(inject)
        controls.after_activity_control(inject, state={"status": "succeeded",
                                                       "output": stored})
        controls.after_activity_control(clear, state={"status": "succeeded", "output": 1})
        controls.before_activity_control(probe)
        controls.after_activity_control(probe, state={"status": "failed", "output": None,
                                                      "exception": ["ActivityFailed: no"]})
    finally:
        controls._state.update(run_path=None, phase="setup")
    events = read_events(tmp_path)
    # fault_start / fault_end come from the actions themselves, when they act (not after
    # the activity's pause): the control leaves them out
    assert [e["kind"] for e in events] == ["activity_start", "activity_end"]
    assert events[1]["status"] == "failed" and "ActivityFailed: no" in events[1]["error"]
    from gameday.faults.client import fault_fields

    fields = fault_fields("classifier", [(f["process"], f) for f in stored])
    assert fields["service"] == "classifier" and fields["fault_ids"] == ["f1"]
    assert fields["fault"] == {"type": "latency", "params": {"delay_ms": 300.0},
                               "route": "/v1/*", "probability": 1.0, "ttl_s": 60.0}


def test_fault_start_text_has_configuration_values_put_in():
    """A ${name} in an activity's arguments is expanded as chaoslib does when it runs it
    (the control sees the arguments before that); a postmortem once said ${load_duration}."""
    from gameday.chaos.controls import _expanded

    args = {"profile": "steady", "users": 150, "duration": "${load_duration}"}
    got = _expanded(args, {"configuration": {"load_duration": "50s"}, "secrets": None})
    assert got == {"profile": "steady", "users": 150, "duration": "50s"}
    assert _expanded(args, {"configuration": None})["duration"] == "${load_duration}"


def test_load_the_method_adds_is_a_surge_not_a_fault(tmp_path):
    """start_load in the method is written as load_surge as it starts (an overload's
    trigger), never as fault_start; outside the method it is load_start once it ran."""
    start_load = {"type": "action", "name": "spike-of-users",
                  "provider": {"type": "python", "func": "start_load",
                               "arguments": {"users": 150, "duration": "${load_duration}"}}}
    output = {"pid": 1, "profile": "steady", "users": 150, "duration_s": 50.0}
    controls._state.update(run_path=tmp_path, safeguard=None, phase="method")
    try:
        controls.before_activity_control(start_load,
                                         configuration={"load_duration": "50s"})
        controls.after_activity_control(start_load, state={"status": "succeeded",
                                                           "output": output})
        controls._state["phase"] = "rollback"
        controls.before_activity_control(start_load)
        controls.after_activity_control(start_load, state={"status": "succeeded",
                                                           "output": output})
    finally:
        controls._state.update(run_path=None, phase="setup")
    events = read_events(tmp_path)
    assert [e["kind"] for e in events] == ["load_surge", "load_start"]
    surge = events[0]
    assert (surge["who"], surge["users"], surge["shape"], surge["duration"]) == \
        ("chaos", 150, "steady", "50s")
    assert "fault" not in surge and "service" not in surge
