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


def test_knee_is_interpolated_between_the_last_good_and_first_bad_step():
    steps = [step(5, 50, 40), step(10, 100, 100), step(15, 140, 500)]
    knee = find_knee(steps, 300)
    assert knee["crossed"] is True and knee["at_users"] == 15
    assert knee["knee_rps"] == pytest.approx(120.0)  # halfway from 100 ms to 500 ms
    assert "100 ms at 10 users" in knee["reason"]


def test_no_knee_when_p99_stays_under_the_threshold():
    knee = find_knee([step(5, 50, 40), step(10, 95, 80)], 300)
    assert knee["knee_rps"] is None and knee["crossed"] is False
    assert knee["max_rps"] == 95
    assert "up to 10 users" in knee["reason"]


def test_over_the_threshold_from_the_first_step():
    knee = find_knee([step(5, 50, 900)], 300)
    assert knee["knee_rps"] is None and knee["crossed"] is True
    assert "first step" in knee["reason"]


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
    for profile in ("steady", "ramp", "spike", "soak", "mix"):
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
