"""Field types the services' request schemas share.

``Text``: a string that is valid Unicode. JSON can carry a lone surrogate (``"\\ud800"``),
which Python accepts into a str but no UTF-8 encoder (a response, a log line, an upstream
call) can write; such a string is refused with 422 where it enters. Request models also set
``allow_inf_nan=False`` (``FINITE``) so that NaN, Infinity and 1e400 are refused as numbers.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict

from gameday.text import is_text

FINITE = ConfigDict(allow_inf_nan=False)


def _unicode(value: str) -> str:
    if not is_text(value):
        raise ValueError("not valid Unicode text (a lone surrogate)")
    return value


Text = Annotated[str, AfterValidator(_unicode)]

__all__ = ["FINITE", "Text"]
