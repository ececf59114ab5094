"""Steady load: the gateway mix at a constant number of users.

    LOAD_USERS=10 LOAD_DURATION=30s locust -f loadtests/steady.py --headless --host URL
"""

from gateway_users import GatewayUser
from load_shape import ProfileShape

__all__ = ["GatewayUser", "SteadyShape"]


class SteadyShape(ProfileShape):
    default_users = 10
    default_duration_s = 30.0

    def at(self, t):
        return self.users, float(self.users)
