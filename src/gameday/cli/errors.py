"""Errors on the command line: one line on stderr, exit 2 for bad input, 1 otherwise."""

from __future__ import annotations

import functools

import typer

from gameday.errors import GamedayError, ValidationError


def exit_code_for(err: GamedayError) -> int:
    return 2 if isinstance(err, ValidationError) else 1


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GamedayError as err:
            message = " ".join(str(err).split()) or type(err).__name__
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(exit_code_for(err)) from None

    return wrapper


def wrap_commands(app: typer.Typer) -> None:
    """Give every command of ``app`` and its sub-apps the error handling above."""
    for info in app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "_gameday_wrapped", False):
            info.callback = handle_errors(info.callback)
            info.callback._gameday_wrapped = True
    for group in app.registered_groups:
        if group.typer_instance is not None:
            wrap_commands(group.typer_instance)
