"""KV-cache pressure: how many slots the ``kv_cache_pressure`` fault takes away.

Memory pressure is process-wide, so the fault's route and probability do not apply: while it
is active, its slots are gone for every request.
"""

from __future__ import annotations

import math

from gameday.faults import FaultStore


def lost_slots(faults: FaultStore, kv_slots: int) -> int:
    """Slots unavailable now: ``slots_lost`` if set (> 0), else ``fraction_lost`` of them."""
    lost = 0
    for fault in faults.active("kv_cache_pressure"):
        params = fault.params
        n = params.get("slots_lost", 0)
        if n <= 0:
            n = math.floor(params.get("fraction_lost", 0.0) * kv_slots + 1e-9)
        lost = max(lost, n)
    return min(lost, kv_slots)
