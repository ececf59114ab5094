"""``python -m services.classifier``: serve the classifier with uvicorn."""

from services.classifier.app import create_app
from services.classifier.settings import Settings
from services.common.serve import serve


def main() -> None:
    serve("classifier", Settings, create_app)


if __name__ == "__main__":
    main()
