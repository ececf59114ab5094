"""Surge: the steady shape with classify-only users (about 10 requests/s each), as a campaign
brings them: the overload-spike scenario's demand, aimed at what the classify SLOs measure.

    LOAD_USERS=240 LOAD_DURATION=60s locust -f loadtests/surge.py --headless --host URL
"""

from gateway_users import ClassifyUser
from steady import SteadyShape

__all__ = ["ClassifyUser", "SteadyShape"]
