"""``python -m gameday_services.features``: the feature store on FEATURES_HOST:FEATURES_PORT."""

from gameday_services.common.serve import serve
from gameday_services.features.app import create_app
from gameday_services.features.settings import Settings


def main() -> None:
    serve("features", Settings, create_app)


if __name__ == "__main__":
    main()
