"""Capacity search: the knee, the SLO threshold, plan validation; CLI input errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.errors import ValidationError
from gameday.load.capacity import CapacityPlan, find_knee, slo_threshold_s, validate_plan
from gameday.load.profiles import locustfile_for, validate_profile

ROOT = Path(__file__).resolve().parents[2]


def step(users, rps, p99):
    return {"users": users, "rps": rps, "p50_ms": 10.0, "p95_ms": p99, "p99_ms": p99,
            "requests": int(rps * 8), "failures": 0}


def test_slo_limit_is_interpolated_between_the_last_good_and_first_bad_step():
    steps = [step(5, 50, 40), step(10, 100, 100), step(15, 140, 500)]
    knee = find_knee(steps, 300)
    assert knee["crossed"] is True and knee["at_users"] == 15
    assert knee["slo_rps"] == pytest.approx(120.0)  # halfway from 100 ms to 500 ms
    assert "100 ms at 10 users" in knee["reason"]


def test_no_slo_limit_when_p99_stays_under_the_threshold():
    knee = find_knee([step(5, 50, 40), step(10, 95, 80)], 300)
    assert knee["slo_rps"] is None and knee["crossed"] is False
    assert knee["max_rps"] == 95
    assert "up to 10 users" in knee["reason"]


def test_over_the_threshold_from_the_first_step():
    knee = find_knee([step(5, 50, 900)], 300)
    assert knee["slo_rps"] is None and knee["crossed"] is True
    assert "first step" in knee["reason"]
    assert knee["knee_rps"] is None and "fewer than two steps" in knee["knee_reason"]


def test_the_knee_is_where_throughput_stops_following_the_users():
    """10 req/s per user up to 65 users, then the stack tops out near 680 req/s while p99
    stays under the SLO (the users wait for their answers): a knee without an SLO limit."""
    steps = [step(5, 50, 50), step(35, 349, 90), step(65, 627, 150), step(80, 680, 170),
             step(95, 696, 200)]
    knee = find_knee(steps, 300)
    assert knee["knee_users"] == 80 and knee["slo_rps"] is None
    # per user 9.65 at 65 users, 8.5 at 80: 9.0 (90% of 10.0) is 56% of the way
    assert knee["knee_rps"] == pytest.approx(627 + (9.646 - 9.0) / (9.646 - 8.5) * 53, abs=0.2)
    assert "9.6 at 65 users to 8.5 at 80 users" in knee["knee_reason"]


def test_a_dip_that_recovers_is_not_the_knee():
    steps = [step(5, 50, 50), step(20, 150, 90), step(35, 349, 90), step(50, 430, 150),
             step(65, 470, 200)]
    knee = find_knee(steps, 300)
    assert knee["knee_users"] == 50  # 20 users got 7.5 each, but 35 got 10 again
    assert "10.0 at 35 users to 8.6 at 50 users" in knee["knee_reason"]


def test_fallbacks_are_not_capacity_the_knee_and_limit_read_served_answers():
    """Past the classifiers' queues the circuit opens and fast fallbacks pour out: counted
    as throughput they would put the knee at 1,480 req/s; the model served 460 there."""
    steps = [step(5, 50, 26), step(80, 800, 96), step(110, 1060, 130),
             {**step(155, 1480, 190), "served_rps": 460.0}]
    knee = find_knee(steps, 300)
    assert knee["knee_users"] == 155
    assert 460 <= knee["knee_rps"] <= 1060
    assert knee["max_rps"] == 1060  # the most the model served, not the fallbacks' 1,480
    steps[-1].update(failures=6014, requests=11990, too_many_failures=True)
    assert "stopped there: 6014 of 11990 answers failed or were degraded" in \
        find_knee(steps, 300)["reason"]


def test_no_knee_while_every_step_keeps_up():
    knee = find_knee([step(5, 50, 40), step(10, 99, 45), step(15, 148, 60)], 300)
    assert knee["knee_rps"] is None
    assert "kept up with the users up to 15 users" in knee["knee_reason"]


def test_threshold_comes_from_the_classify_latency_slo():
    seconds, name = slo_threshold_s(ROOT / "slos" / "gateway.yaml")
    assert seconds == 0.3 and name == "gateway-classify-latency"


def test_a_file_without_a_latency_slo_is_named():
    with pytest.raises(ValidationError, match=r"features\.yaml: no latency SLO"):
        slo_threshold_s(ROOT / "slos" / "features.yaml")


def test_plan_validation_names_the_option():
    with pytest.raises(ValidationError, match="--max-users: must be at least --start-users"):
        validate_plan(CapacityPlan(start_users=10, max_users=5))
    with pytest.raises(ValidationError, match="--settle: must be shorter"):
        validate_plan(CapacityPlan(step_s=2, settle_s=2))


def test_profiles_map_to_locustfiles():
    for profile in ("steady", "ramp", "spike", "soak", "surge", "mix"):
        assert locustfile_for(profile).is_file()
    with pytest.raises(ValidationError, match="'stedy'; valid: steady, ramp, spike, soak"):
        validate_profile("stedy")


def test_cli_unknown_profile_exits_2_naming_it():
    result = CliRunner().invoke(app, ["load", "run", "--profile", "stedy"])
    assert result.exit_code == 2
    assert "unknown load profile 'stedy'" in result.output
    assert "steady, ramp, spike, soak" in result.output


def test_cli_bad_duration_exits_2():
    result = CliRunner().invoke(app, ["load", "run", "--duration", "soon"])
    assert result.exit_code == 2
    assert "--duration: not a duration, got 'soon'" in result.output
