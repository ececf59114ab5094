"""The one exception root and its few subclasses.

Messages are short and quote the bad value and where it came from, for example
``slos/gateway.yaml: slo 'availability': objective must be below 100, got 100.5``.
"""


class GamedayError(Exception):
    """Root of every error gameday raises on purpose."""


class ValidationError(GamedayError):
    """Bad input: a file, a field or an argument that does not hold."""


class StackError(GamedayError):
    """The local stack could not be started, reached or stopped."""


class NotFoundError(GamedayError):
    """A run, service or file that was asked for does not exist."""


class OutputError(GamedayError):
    """An output could not be written: a read-only folder, something else in the way."""
