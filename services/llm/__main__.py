"""``python -m services.llm``: the text generator on LLM_HOST:LLM_PORT."""

from __future__ import annotations

import uvicorn

from gameday.telemetry import configure_logging
from services.llm.app import create_app
from services.llm.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging("llm", replica=settings.replica, level=settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_config=None, access_log=False)


if __name__ == "__main__":
    main()
