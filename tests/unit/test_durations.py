"""One duration parser (gameday.durations) for people, rule files and SLO specs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gameday.durations import (
    format_duration,
    format_prometheus_duration,
    parse_duration,
    parse_prometheus_duration,
)
from gameday.errors import ValidationError

SRC = Path(__file__).resolve().parents[2] / "src" / "gameday"


def test_people_type_decimals_plain_seconds_and_mixed_units():
    assert parse_duration("1m30s") == 90 and parse_duration("1.5m") == 90
    assert parse_duration("500ms") == 0.5 and parse_duration(" 45 ") == 45
    with pytest.raises(ValidationError, match=r"--ttl: not a duration, got '5 parsecs'"):
        parse_duration("5 parsecs", where="--ttl")
    with pytest.raises(ValidationError, match="must be above zero"):
        parse_duration("0s")


def test_prometheus_durations_are_integers_and_may_be_zero():
    assert parse_prometheus_duration("1h30m", "for") == 5400
    assert parse_prometheus_duration("0s", "for") == 0 and parse_prometheus_duration("1w", "x")
    for bad in ("1.5m", "90", "", "1h 30m"):
        with pytest.raises(ValidationError, match="not a Prometheus duration"):
            parse_prometheus_duration(bad, "interval")


def test_slo_specs_take_one_unit_above_zero():
    assert parse_prometheus_duration("30d", "window", single_unit=True) == 30 * 86400
    for bad in ("1h30m", "0m", 5, None):
        with pytest.raises(ValidationError, match="window must be"):
            parse_prometheus_duration(bad, "window", single_unit=True)


def test_formats_read_back():
    for s in (90, 120, 3600, 4320, 86400):
        assert parse_prometheus_duration(format_prometheus_duration(s), "x") == s
        assert parse_duration(format_duration(s)) == s
    assert format_prometheus_duration(86400) == "1d" and format_duration(86400) == "24h"


def test_no_other_module_parses_durations_with_its_own_pattern():
    unit_pattern = re.compile(r"re\.compile\(r[\"'][^\"']*\(ms\|s\|m\|h")
    owners = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
              if unit_pattern.search(p.read_text())]
    assert owners == ["durations.py"]
