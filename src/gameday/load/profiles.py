"""Load profiles: one locustfile of loadtests/ each (found by gameday.resources)."""

from __future__ import annotations

from pathlib import Path

from gameday.errors import ValidationError
from gameday.resources import loadtests_dir

PROFILES = {
    "steady": "steady.py",
    "ramp": "ramp.py",
    "spike": "spike.py",
    "soak": "soak.py",
    "surge": "surge.py",  # classify-only users: the overload drill's demand
    "mix": "gateway_mix.py",  # Locust's own -u/-t, no shape
}
CAPACITY_FILE = "capacity.py"


def validate_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValidationError(f"--profile: unknown load profile {profile!r}; valid: "
                              f"{', '.join(PROFILES)}")
    return profile


def locustfile_for(profile: str) -> Path:
    return loadtests_dir() / PROFILES[validate_profile(profile)]
