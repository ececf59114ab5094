"""Soak: a moderate, constant load for a long time (leaks, drift, slow burn).

    LOAD_USERS=8 LOAD_DURATION=10m locust -f loadtests/soak.py --headless --host URL
"""

from gateway_users import GatewayUser
from load_shape import ProfileShape

__all__ = ["GatewayUser", "SoakShape"]


class SoakShape(ProfileShape):
    default_users = 8
    default_duration_s = 600.0

    def at(self, t):
        return self.users, max(1.0, self.users / 10)  # a gentle start
