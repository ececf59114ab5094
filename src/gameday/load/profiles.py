"""Load profiles: one locustfile of loadtests/ each, found next to the project or the cwd."""

from __future__ import annotations

import os
from pathlib import Path

from gameday.errors import NotFoundError, ValidationError

PROFILES = {
    "steady": "steady.py",
    "ramp": "ramp.py",
    "spike": "spike.py",
    "soak": "soak.py",
    "mix": "gateway_mix.py",  # Locust's own -u/-t, no shape
}
CAPACITY_FILE = "capacity.py"
LOADTESTS_ENV = "GAMEDAY_LOADTESTS_DIR"


def validate_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValidationError(f"--profile: unknown load profile {profile!r}; valid: "
                              f"{', '.join(PROFILES)}")
    return profile


def loadtests_dir() -> Path:
    """$GAMEDAY_LOADTESTS_DIR, else ./loadtests, else the project's loadtests/."""
    candidates = []
    if os.environ.get(LOADTESTS_ENV):
        candidates.append(Path(os.environ[LOADTESTS_ENV]))
    candidates += [Path.cwd() / "loadtests", Path(__file__).resolve().parents[3] / "loadtests"]
    for path in candidates:
        if (path / "gateway_users.py").is_file():
            return path
    raise NotFoundError(f"no loadtests/ folder with gateway_users.py (looked in "
                        f"{', '.join(str(p) for p in candidates)}); set {LOADTESTS_ENV}")


def locustfile_for(profile: str) -> Path:
    return loadtests_dir() / PROFILES[validate_profile(profile)]
