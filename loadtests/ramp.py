"""Ramp: from 1 user up to --load-users, linearly over --load-duration.

    LOAD_USERS=20 LOAD_DURATION=60s locust -f loadtests/ramp.py --headless --host URL
"""

import math

from gateway_users import GatewayUser
from load_shape import ProfileShape

__all__ = ["GatewayUser", "RampShape"]


class RampShape(ProfileShape):
    default_users = 20
    default_duration_s = 60.0

    def at(self, t):
        users = max(1, math.ceil(self.users * t / self.duration_s))
        return users, float(self.users)
