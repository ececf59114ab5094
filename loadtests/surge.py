"""Surge: classify-only users (about 10 requests/s each) at a constant number, as a campaign
brings them: the overload-spike scenario's demand, aimed at what the classify SLOs measure.

    LOAD_USERS=300 LOAD_DURATION=60s locust -f loadtests/surge.py --headless --host URL
"""

from gateway_users import ClassifyUser
from load_shape import ProfileShape

__all__ = ["ClassifyUser", "SurgeShape"]


class SurgeShape(ProfileShape):
    default_users = 300
    default_duration_s = 60.0

    def at(self, t):
        return self.users, float(self.users)
