"""``python -m gameday_services.llm``: the text generator on LLM_HOST:LLM_PORT."""

from gameday_services.common.serve import serve
from gameday_services.llm.app import create_app
from gameday_services.llm.settings import Settings


def main() -> None:
    serve("llm", Settings, create_app)


if __name__ == "__main__":
    main()
