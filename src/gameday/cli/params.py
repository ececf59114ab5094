"""Parsing of command-line values: durations, key=value parameters, replica choice."""

from __future__ import annotations

import json
import re

from gameday.errors import ValidationError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def parse_duration(text: str, where: str = "duration") -> float:
    """``"30s"``, ``"2m"``, ``"1h"``, ``"1m30s"``, ``"500ms"`` or a bare number of seconds."""
    raw = text.strip().lower().replace(" ", "")
    if _FLOAT.match(raw):
        seconds = float(raw)
    else:
        pos, seconds = 0, 0.0
        for m in _DURATION_PART.finditer(raw):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNIT_S[m.group(2)]
            pos = m.end()
        if pos != len(raw) or not raw:
            raise ValidationError(f"{where}: not a duration, got {text!r}; use a number with "
                                  f"s, m or h, like 30s, 2m, 1h or 1m30s")
    if seconds <= 0:
        raise ValidationError(f"{where}: must be above zero, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


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
