"""Text that came from outside (HTTP bodies, command-line arguments, files) is Unicode.

Python strings can hold what no UTF-8 file or terminal can: lone surrogates (U+D800 to
U+DFFF), which ``json.loads`` makes from an escape like ``"\\ud800"`` and Python makes from
undecodable bytes in ``sys.argv``. Written to a file or a terminal, they raise
UnicodeEncodeError far from where they came in. Two policies, chosen per interface:

    validate_text(value, "note: text")   # refuse: ValidationError naming the field
    clean_json(payload)                   # replace: each lone surrogate becomes U+FFFD

``clean_json`` also turns non-finite floats into None, so that what it returns always
serialises as strict JSON (``json.dumps(..., allow_nan=False)``).
"""

from __future__ import annotations

import math
import re

from gameday.errors import ValidationError

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")

__all__ = ["REPLACEMENT", "clean_json", "clean_text", "find_bad_text", "is_text",
           "validate_text"]


def is_text(value: str) -> bool:
    """True when ``value`` encodes to UTF-8 (no lone surrogates)."""
    return value.isascii() or _SURROGATE.search(value) is None


def clean_text(value: str) -> str:
    """``value`` with every lone surrogate replaced by U+FFFD."""
    return value if is_text(value) else _SURROGATE.sub(REPLACEMENT, value)


def clean_json(value, _depth: int = 0):
    """A copy of a JSON-like value (dict, list, str, numbers...) that is valid UTF-8 JSON:
    strings (keys too) cleaned, non-finite floats as None, tuples as lists, anything else
    as its cleaned ``str``."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if _depth > 100:  # deeper than any event we write: keep a marker, not a recursion
        return "..."
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v, _depth + 1) for v in value]
    return clean_text(str(value))


def find_bad_text(value, where: str, _depth: int = 0) -> str | None:
    """The place (``where.key[0]``) of the first string in ``value`` that is not valid
    Unicode text, or None."""
    if isinstance(value, str):
        return None if is_text(value) else where
    if _depth > 100:
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and not is_text(k):
                return f"{where} (a key)"
            found = find_bad_text(v, f"{where}.{k}", _depth + 1)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = find_bad_text(v, f"{where}[{i}]", _depth + 1)
            if found:
                return found
    return None


def validate_text(value, where: str) -> None:
    """Raise ValidationError when a string in ``value`` (a string or JSON-like data) holds
    a lone surrogate; the message names the field and shows it escaped."""
    found = find_bad_text(value, where)
    if found is None:
        return
    bad = value
    if not isinstance(value, str):  # show the offending string, not the whole payload
        bad = next(s for s in _strings(value) if not is_text(s))
    shown = ascii(bad)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise ValidationError(f"{found}: not valid Unicode text (a lone surrogate, as from "
                          f"undecodable bytes or a '\\ud800' JSON escape), got {shown}")


def _strings(value, _depth: int = 0):
    if isinstance(value, str):
        yield value
    elif _depth <= 100 and isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k, _depth + 1)
            yield from _strings(v, _depth + 1)
    elif _depth <= 100 and isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v, _depth + 1)
