"""The ``gameday`` command line: a Typer app with one module per noun."""
