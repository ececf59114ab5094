"""``python -m gameday_services.gateway``: settings from the environment, JSON logs, uvicorn."""

from gameday_services.common.serve import serve
from gameday_services.gateway.app import create_app
from gameday_services.gateway.settings import Settings


def main() -> None:
    serve("gateway", Settings, create_app)


if __name__ == "__main__":
    main()
