"""Running one service process: settings from the environment, JSON logs, uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from gameday.telemetry import configure_logging


def serve(name: str, settings_cls, create_app) -> None:
    """``python -m services.<name>``: build the settings, configure logs, serve until stopped."""
    settings = settings_cls()
    configure_logging(name, replica=settings.replica, level=settings.log_level)
    # httpx logs every request at INFO (the gateway's upstream calls): noise in JSON logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                access_log=False)
