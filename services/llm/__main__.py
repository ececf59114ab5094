"""``python -m services.llm``: the text generator on LLM_HOST:LLM_PORT."""

from services.common.serve import serve
from services.llm.app import create_app
from services.llm.settings import Settings


def main() -> None:
    serve("llm", Settings, create_app)


if __name__ == "__main__":
    main()
