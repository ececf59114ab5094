"""Parsing of command-line values: key=value parameters, replica choice; durations are
gameday.durations' (re-exported here for the commands)."""

from __future__ import annotations

import json
import re

from gameday.durations import format_duration, parse_duration
from gameday.errors import ValidationError

__all__ = ["format_duration", "parse_duration", "parse_params", "parse_probability",
           "parse_replica", "parse_value"]

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def parse_value(text: str):
    """``true``/``false``/``null``, integers, floats and JSON lists/objects; else the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none"):
        return None
    if _INT.match(text.strip()):
        return int(text)
    if _FLOAT.match(text.strip()):
        return float(text)
    if text.strip()[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def parse_params(items: list[str] | None, where: str = "--param") -> dict:
    """``["delay_ms=500", "mode=nan"]`` -> ``{"delay_ms": 500, "mode": "nan"}``."""
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationError(f"{where}: expected KEY=VALUE, got {item!r}")
        out[key] = parse_value(value)
    return out


def parse_replica(text: str | None) -> int | str:
    """``"all"`` or a replica index."""
    if text is None or text.strip().lower() == "all":
        return "all"
    if _INT.match(text.strip()) and int(text) >= 0:
        return int(text)
    raise ValidationError(f"--replica: expected a replica number or 'all', got {text!r}")


def parse_probability(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValidationError(f"--probability: must be from 0 to 1, got {value!r}")
    return value
