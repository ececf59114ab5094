"""``python -m gameday_services.classifier``: serve the classifier with uvicorn."""

from gameday_services.classifier.app import create_app
from gameday_services.classifier.settings import Settings
from gameday_services.common.serve import serve


def main() -> None:
    serve("classifier", Settings, create_app)


if __name__ == "__main__":
    main()
