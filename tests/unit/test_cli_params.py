import pytest

from gameday.cli.params import (
    format_duration,
    parse_duration,
    parse_params,
    parse_probability,
    parse_replica,
    parse_value,
)
from gameday.errors import ValidationError


@pytest.mark.parametrize("text, seconds", [
    ("5s", 5), ("2m", 120), ("1h", 3600), ("1m30s", 90), ("500ms", 0.5), ("1.5s", 1.5),
    ("30", 30), ("0.25", 0.25), ("1h2m3s", 3723), (" 10S ", 10), ("1d", 86400),
])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "s", "5 s s", "m5", "1h-2m", "abc", "5s3"])
def test_bad_durations_name_the_value(text):
    with pytest.raises(ValidationError) as err:
        parse_duration(text, where="--ttl")
    assert str(err.value).startswith(f"--ttl: not a duration, got {text!r}")


def test_zero_duration_is_refused():
    with pytest.raises(ValidationError, match="--ttl: must be above zero, got '0s'"):
        parse_duration("0s", where="--ttl")


def test_format_duration():
    assert [format_duration(s) for s in (30, 120, 3600, 90, 0.5)] == \
        ["30s", "2m", "1h", "90s", "0.5s"]


def test_param_values_are_typed():
    assert parse_params(["delay_ms=500", "jitter_ms=2.5", "on_request=true", "mode=nan",
                         "message=a=b", "max_s=null"]) == {
        "delay_ms": 500, "jitter_ms": 2.5, "on_request": True, "mode": "nan",
        "message": "a=b", "max_s": None}
    assert parse_value('[1, 2]') == [1, 2]
    assert parse_value("1e3") == 1000.0


def test_bad_param():
    with pytest.raises(ValidationError, match="--param: expected KEY=VALUE, got 'delay_ms'"):
        parse_params(["delay_ms"])


def test_replica_choice():
    assert parse_replica("all") == "all"
    assert parse_replica(None) == "all"
    assert parse_replica("1") == 1
    with pytest.raises(ValidationError, match="--replica: expected a replica number or 'all', "
                                              "got 'x'"):
        parse_replica("x")


def test_probability():
    assert parse_probability(0.5) == 0.5
    with pytest.raises(ValidationError, match="--probability: must be from 0 to 1, got 1.5"):
        parse_probability(1.5)
