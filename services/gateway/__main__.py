"""``python -m services.gateway``: settings from the environment, JSON logs, uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from gameday.telemetry import configure_logging
from services.gateway.app import create_app
from services.gateway.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging("gateway", replica=settings.replica, level=settings.log_level)
    # httpx logs every upstream request at INFO: two lines per classify is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                access_log=False)


if __name__ == "__main__":
    main()
