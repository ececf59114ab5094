"""Load generation with Locust, always in its own process (see runner.py)."""

from .capacity import CapacityPlan, capacity_report, find_knee, slo_threshold_s, start_capacity
from .profiles import PROFILES, validate_profile
from .runner import LoadHandle, attach, find_loads, start_load, stop_load

__all__ = ["PROFILES", "CapacityPlan", "LoadHandle", "attach", "capacity_report", "find_knee",
           "find_loads", "slo_threshold_s", "start_capacity", "start_load", "stop_load",
           "validate_profile"]
