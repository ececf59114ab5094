"""Running one service process: settings from the environment, JSON logs, uvicorn with
limits (``server_limits``: concurrency, keep-alive, request head size and receive time).

Services bind 127.0.0.1 unless told otherwise (``<NAME>_HOST``). Bound to anything that is
not loopback, the admin API (fault injection, model deploys, gateway levers) is reachable
from other hosts and only the bearer token stands in the way: the process says so once, at
start, as a warning.
"""

from __future__ import annotations

import ipaddress
import logging
import sys

import uvicorn

from gameday.errors import GamedayError
from gameday.telemetry import configure_logging
from gameday_services.common.connection import BoundedHttpProtocol
from gameday_services.common.gctuning import tune_gc
from gameday_services.common.limits import KEEP_ALIVE_S, MAX_CONCURRENCY, MAX_HEAD_BYTES

log = logging.getLogger("services.serve")

EXPOSED_WARNING = ("listening on {host}: the admin API (fault injection) is reachable from "
                   "other hosts; protect the token")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: 127.0.0.0/8, ::1, 'localhost'.

    Any other name counts as exposed: it may resolve to an address other hosts can reach."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str) -> bool:
    """Log the exposure warning when ``host`` is not loopback; True when it did."""
    if is_loopback(host):
        return False
    log.warning(EXPOSED_WARNING.format(host=host), extra={"host": host})
    return True


def serve(name: str, settings_cls, create_app, loop: str = "auto", protocol=None) -> None:
    """``python -m gameday_services.<name>``: build the settings, configure logs, serve until
    stopped. ``loop``: uvicorn's event loop ("auto": uvloop when installed; the gateway
    runs "asyncio", see services/gateway/__main__.py). ``protocol(app)``: the HTTP protocol
    class to run for the app, a subclass of BoundedHttpProtocol (the gateway's refuses
    from a request's head: services/gateway/early.py)."""
    settings = settings_cls()
    configure_logging(name, replica=settings.replica, level=settings.log_level)
    # httpx logs every request at INFO (the gateway's upstream calls): noise in JSON logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    warn_if_exposed(settings.host)
    try:
        app = create_app(settings)
    except GamedayError as err:  # a setting that cannot hold: one line, exit 2
        log.error(f"cannot start {name}: {err}", extra={"error": str(err)})
        sys.exit(2)
    # proxy_headers off: no proxy stands in front of a service, so an X-Forwarded-For from
    # a loopback client is not believed, and every request skips that layer.
    tune_gc()  # the app is built: what it holds is frozen out of every collection
    limits = server_limits()
    if protocol is not None:
        limits["http"] = protocol(app)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False, proxy_headers=False, loop=loop, **limits)


def server_limits() -> dict:
    """uvicorn's settings that bound what a client can cost (services/common/limits.py).

    ``http``: the httptools protocol with a receive deadline and a cap on the request head
    (services/common/connection.py); ``h11_max_incomplete_event_size`` bounds the head
    should uvicorn run h11 instead."""
    return {"http": BoundedHttpProtocol, "limit_concurrency": MAX_CONCURRENCY,
            "timeout_keep_alive": KEEP_ALIVE_S, "h11_max_incomplete_event_size": MAX_HEAD_BYTES}
