"""``python -m services.gateway``: settings from the environment, JSON logs, uvicorn."""

from services.common.serve import serve
from services.gateway.app import create_app
from services.gateway.settings import Settings


def main() -> None:
    serve("gateway", Settings, create_app)


if __name__ == "__main__":
    main()
