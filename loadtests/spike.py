"""Spike: a fifth of the users, then all of them at once for the middle fifth, then back.

    LOAD_USERS=30 LOAD_DURATION=45s locust -f loadtests/spike.py --headless --host URL
"""

from gateway_users import GatewayUser
from load_shape import ProfileShape

__all__ = ["GatewayUser", "SpikeShape"]


class SpikeShape(ProfileShape):
    default_users = 30
    default_duration_s = 45.0

    def at(self, t):
        base = max(1, self.users // 5)
        share = t / self.duration_s
        if 0.4 <= share < 0.6:
            return self.users, float(self.users)  # all arrive within a second
        return base, float(self.users)
