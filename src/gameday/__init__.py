"""gameday: SRE reliability and chaos training toolkit for AI model-serving infrastructure."""

__version__ = "0.1.0"
