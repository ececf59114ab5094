"""gameday: SRE reliability and chaos training toolkit for AI model-serving infrastructure."""

__version__ = "0.1.0"


def discover(discover_system: bool = True) -> dict:
    """Chaos Toolkit's entry point (``chaos discover gameday``): the extension's activities."""
    from gameday.chaos import discover as discover_chaos

    return discover_chaos(discover_system=discover_system)
