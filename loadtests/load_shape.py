"""The base of the load shapes: users and duration from --load-users / --load-duration
(or LOAD_USERS / LOAD_DURATION), with each shape's short defaults."""

from __future__ import annotations

import re

from locust import LoadTestShape

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_seconds(text: str) -> float:
    """``"90"``, ``"90s"``, ``"2m"``, ``"1h"`` in seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"--load-duration: not a duration, got {text!r}; use 30s, 2m, 1h")
    return float(m.group(1)) * _UNITS[m.group(2)]


class ProfileShape(LoadTestShape):
    abstract = True
    default_users = 10
    default_duration_s = 30.0

    @property
    def users(self) -> int:
        opts = self.runner.environment.parsed_options if self.runner else None
        value = getattr(opts, "load_users", 0) or 0
        return max(1, int(value) or self.default_users)

    @property
    def duration_s(self) -> float:
        opts = self.runner.environment.parsed_options if self.runner else None
        value = getattr(opts, "load_duration", "") or ""
        return parse_seconds(value) if value else self.default_duration_s

    def tick(self):
        t = self.get_run_time()
        if t >= self.duration_s:
            return None
        return self.at(t)

    def at(self, t: float) -> tuple[int, float]:
        """(users, spawn rate) at ``t`` seconds into the run."""
        raise NotImplementedError
