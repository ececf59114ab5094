"""``python -m services.features``: the feature store on FEATURES_HOST:FEATURES_PORT."""

from services.common.serve import serve
from services.features.app import create_app
from services.features.settings import Settings


def main() -> None:
    serve("features", Settings, create_app)


if __name__ == "__main__":
    main()
