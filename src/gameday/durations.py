"""Durations, the one parser and formatter: as people type them, and as Prometheus writes them.

- ``parse_duration``: what a person types on the command line (``--ttl``, ``--duration``) or
  in a Chaos Toolkit argument (``ttl="60s"``): ``30s``, ``2m``, ``1h``, ``1m30s``, ``500ms``,
  ``1.5m`` or a plain number of seconds; above zero.
- ``parse_prometheus_duration``: Prometheus's own syntax in rule files (``interval``,
  ``for``, ``1h30m``, ``0s``): integers and the units ms, s, m, h, d, w, y; with
  ``single_unit`` the SLO specs' stricter form (``5m``, ``30d``: one unit, above zero).
- ``format_duration`` (``90s``, ``2m``, ``1h``) and ``format_prometheus_duration`` (the
  largest unit that divides exactly, ``1d``, ``72m``).
"""

from __future__ import annotations

import re

from gameday.errors import ValidationError

__all__ = ["format_duration", "format_prometheus_duration", "parse_duration",
           "parse_prometheus_duration"]

UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_HUMAN_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_PROM_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_NUMBER = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def _parts(pattern: re.Pattern, text: str) -> list[tuple[str, str]] | None:
    """The (number, unit) parts that spell all of ``text``, or None."""
    parts, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() != pos:
            return None
        parts.append((m.group(1), m.group(2)))
        pos = m.end()
    return parts if parts and pos == len(text) else None


def parse_duration(text: str, where: str = "duration") -> float:
    """Seconds above zero; raises ValidationError quoting ``where`` and the text."""
    raw = text.strip().lower().replace(" ", "")
    if _NUMBER.match(raw):
        seconds = float(raw)
    else:
        parts = _parts(_HUMAN_PART, raw)
        if parts is None:
            raise ValidationError(f"{where}: not a duration, got {text!r}; use a number with "
                                  f"s, m or h, like 30s, 2m, 1h or 1m30s")
        seconds = sum(float(n) * UNIT_S[u] for n, u in parts)
    if seconds <= 0:
        raise ValidationError(f"{where}: must be above zero, got {text!r}")
    return seconds


def parse_prometheus_duration(text: object, where: str, single_unit: bool = False) -> float:
    """Seconds of a Prometheus duration; ``single_unit``: one unit and above zero."""
    raw = text.strip() if isinstance(text, str) else None
    parts = _parts(_PROM_PART, raw) if raw else None
    if single_unit:
        if parts is None or len(parts) != 1:
            raise ValidationError(f"{where} must be a duration like 5m, 1h or 30d, "
                                  f"got {text!r}")
        seconds = int(parts[0][0]) * UNIT_S[parts[0][1]]
        if seconds <= 0:
            raise ValidationError(f"{where} must be positive, got {text!r}")
        return seconds
    if parts is None:
        raise ValidationError(f"{where}: not a Prometheus duration, got {str(text).strip()!r}")
    return float(sum(int(n) * UNIT_S[u] for n, u in parts))


def format_duration(seconds: float) -> str:
    """``3600`` -> ``1h``, ``120`` -> ``2m``, ``90`` -> ``90s``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def format_prometheus_duration(seconds: float) -> str:
    """Largest unit that divides ``seconds`` exactly: 3600 -> ``1h``, 4320 -> ``72m``."""
    for unit in ("d", "h", "m", "s"):
        size = UNIT_S[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(round(seconds * 1000))}ms"
