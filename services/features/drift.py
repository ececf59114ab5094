"""Slow, deterministic drift of feature values with time.

Real features move: a feature is its seeded base value plus a small drift that depends on the
entity, the feature and the wall-clock time. Two waves of incommensurate periods keep values
from repeating, so a snapshot from an hour ago differs from today's. The amplitude is a
fraction of each feature's spread across entities, so labels stay learnable.
"""

from __future__ import annotations

import math

GOLDEN = (1 + 5 ** 0.5) / 2


def phase(entity_index: int, feature: int) -> float:
    """A fixed phase in [0, 2*pi) per (entity, feature), from a cheap integer hash."""
    h = (entity_index * 2654435761 + feature * 40503 + 12345) & 0xFFFFFFFF
    return (h / 2**32) * 2 * math.pi


def drift(entity_index: int, feature: int, t: float, amplitude: float, period_s: float) -> float:
    """The drift of one feature at time ``t`` (seconds since the epoch)."""
    if amplitude == 0:
        return 0.0
    p = phase(entity_index, feature)
    w = 2 * math.pi * t / period_s
    return amplitude * 0.5 * (math.sin(w + p) + math.sin(w / GOLDEN + 2 * p))
