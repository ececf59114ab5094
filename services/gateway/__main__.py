"""``python -m gameday_services.gateway``: settings from the environment, JSON logs, uvicorn.

The gateway runs on asyncio's own event loop, not uvloop. Under a surge (240 clients
arriving at once, on 2 busy cores) uvloop kept serving the connections it had and left new
ones waiting: a new connection's first answer took 5-19 s while kept-alive ones took under
a second, so a responder's lever (a new connection to the admin API) timed out and the drill
never recovered. On asyncio's loop the same new connections were answered in 0.5-1.7 s.
"""

from gameday_services.common.serve import serve
from gameday_services.gateway.app import create_app
from gameday_services.gateway.early import protocol_for
from gameday_services.gateway.settings import Settings


def main() -> None:
    serve("gateway", Settings, create_app, loop="asyncio", protocol=protocol_for)


if __name__ == "__main__":
    main()
