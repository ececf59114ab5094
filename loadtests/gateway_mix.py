"""The gateway's realistic traffic mix with Locust's own -u/-r/-t (no load shape)::

    locust -f loadtests/gateway_mix.py --headless -u 10 -r 5 -t 30s --host http://127.0.0.1:8080
"""

from gateway_users import GatewayUser

__all__ = ["GatewayUser"]
