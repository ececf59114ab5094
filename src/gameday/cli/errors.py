"""Errors on the command line: one line on stderr, exit 2 for bad input, 1 otherwise.

Commands raise GamedayError subclasses with a message naming the file, field and value. An
OSError that still gets through (a read-only folder, a directory where a file should be) is
the last line of defence: one line naming the path, exit 1, never a traceback.
"""

from __future__ import annotations

import functools

import typer

from gameday.errors import GamedayError, ValidationError


def exit_code_for(err: GamedayError) -> int:
    return 2 if isinstance(err, ValidationError) else 1


def describe_os_error(err: OSError) -> str:
    """``/path: Permission denied`` (and the second path of a rename or link)."""
    reason = err.strerror or type(err).__name__
    if err.filename is None:
        return f"{reason} ({err})" if err.strerror else str(err) or reason
    where = str(err.filename)
    if getattr(err, "filename2", None) is not None:
        where = f"{where} -> {err.filename2}"
    return f"{where}: {reason}"


def _fail(message: str, code: int):
    from gameday.text import clean_text

    message = clean_text(" ".join(message.split()))  # a terminal cannot print a surrogate
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code) from None


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GamedayError as err:
            _fail(str(err) or type(err).__name__, exit_code_for(err))
        except OSError as err:  # last line of defence: the specific cases are handled first
            _fail(describe_os_error(err), 1)

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
