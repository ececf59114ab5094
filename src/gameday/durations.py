"""Durations as people type them: ``30s``, ``2m``, ``1h``, ``1m30s``, ``500ms`` or seconds.

Shared by the command line (``--ttl``, ``--duration``...) and the Chaos Toolkit functions
(``ttl="60s"``), so both accept and refuse the same text with the same message.
"""

from __future__ import annotations

import re

from gameday.errors import ValidationError

__all__ = ["format_duration", "parse_duration"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def parse_duration(text: str, where: str = "duration") -> float:
    """Seconds above zero; raises ValidationError quoting ``where`` and the text."""
    raw = text.strip().lower().replace(" ", "")
    if _NUMBER.match(raw):
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
    """``3600`` -> ``1h``, ``120`` -> ``2m``, ``90`` -> ``90s``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
