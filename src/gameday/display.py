"""How figures are shown to people: UTC times, elapsed times, percentages, file sizes.

One formatter per kind of figure, shared by the report, the postmortem draft and anything
else that shows a run's numbers, so the same figure reads the same everywhere. ``None``
(a figure the run does not have) shows as ``-``.
"""

from __future__ import annotations

import time


def utc(ts: float | None) -> str:
    """``1764777600`` -> ``2025-12-03 16:00:00`` (UTC)."""
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def elapsed(seconds: float | None) -> str:
    """Whole seconds as ``45s``, ``2m05s``, ``1h02m05s``; negative with a ``-``."""
    if seconds is None:
        return "-"
    sign, s = ("-" if seconds < 0 else ""), abs(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{sign}{h}h{m:02d}m{sec:02d}s"
    return f"{sign}{m}m{sec:02d}s" if m else f"{sign}{sec}s"


def percent(ratio: float | None, digits: int = 1) -> str:
    """``0.1234`` -> ``12.3%``."""
    return "-" if ratio is None else f"{ratio * 100:.{digits}f}%"


def size(n: int | float) -> str:
    """Bytes as ``512 B``, ``110.1 KiB``, ``8.9 MiB``, ``1.2 GiB``."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
