"""Parsing PromQL text, bounded: every expression the embedded engine evaluates (rules, the
query API, probes) is checked by :func:`validate_query` on its raw text, then parsed by
promql-parser, with the ASTs cached within a memory budget.

Why bounds: promql-parser's time and memory grow with the square of the nesting and of the
binary operators (an AST holds a copy of each subtree: ~125 bytes x operators^2, 8 MB at
256), 5,000 nested parentheses take seconds and gigabytes, and a long enough ``1+1+...``
chain crashes the process. Generated SLO rules stay under 1,000 characters, 10 levels and
70 operator characters.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import promql_parser as pp

from gameday.errors import GamedayError

__all__ = ["CACHE_BUDGET", "MAX_NESTING", "MAX_OPERATORS", "MAX_QUERY_CHARS", "PromQLError",
           "parse", "validate_query"]


class PromQLError(GamedayError):
    """A PromQL expression that cannot be parsed, is outside the subset, or fails."""


MAX_QUERY_CHARS = 16_384
MAX_NESTING = 64  # (), [] and {} open at once, outside string literals
MAX_OPERATORS = 256  # operator characters (+ - * / % ^ < > = !) and and/or/unless/atan2
_OPERATOR_CHARS = frozenset("+-*/%^<>=!")
_OPERATOR_WORDS = frozenset({"and", "or", "unless", "atan2"})
_OPENERS, _CLOSERS = "([{", ")]}"
# Parsed queries are cached (rules evaluate the same text every tick), each weighted by
# (operators + deepest nesting + 1)^2, so the cache holds at most ~64 MB of ASTs whatever
# clients send.
CACHE_BUDGET = 1 << 19
_cache: OrderedDict[str, tuple[object, int]] = OrderedDict()
_cache_weight = 0
_cache_lock = threading.Lock()


def validate_query(expr: str) -> int:
    """Raise PromQLError when ``expr`` is longer, deeper or has more operators than the
    bounds above; counted on the raw text, string literals skipped, nothing parsed.
    Returns operators + deepest nesting, the root of what the AST will cost."""
    if not isinstance(expr, str):
        raise PromQLError(f"a PromQL query must be text, got {type(expr).__name__}")
    if len(expr) > MAX_QUERY_CHARS:
        raise PromQLError(f"PromQL query of {len(expr)} characters refused: the limit is "
                          f"{MAX_QUERY_CHARS}")
    depth = deepest = operators = 0
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":  # a string literal: skip to its closing quote (\ escapes but in ``)
            i += 1
            while i < n and expr[i] != c:
                i += 2 if expr[i] == "\\" and c != "`" else 1
        elif c in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                raise PromQLError(f"PromQL query nested deeper than {MAX_NESTING} levels "
                                  f"of (), [] and {{}} refused (at character {i})")
        elif c in _CLOSERS:
            depth = max(0, depth - 1)
        elif c in _OPERATOR_CHARS:
            operators += 1
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (expr[j].isalnum() or expr[j] in "_:"):
                j += 1
            operators += expr[i:j].lower() in _OPERATOR_WORDS
            i = j - 1
        if operators > MAX_OPERATORS:
            raise PromQLError(f"PromQL query with more than {MAX_OPERATORS} operators "
                              f"refused (at character {i})")
        i += 1
    return operators + deepest


def parse(expr: str):
    """promql-parser's AST for ``expr``, after :func:`validate_query` (every query, rule
    and API call comes through here); cached within ``CACHE_BUDGET``."""
    global _cache_weight
    with _cache_lock:
        hit = _cache.get(expr)
        if hit is not None:
            _cache.move_to_end(expr)
            return hit[0]
    weight = (validate_query(expr) + 1) ** 2
    try:
        node = pp.parse(expr)
    except RecursionError:
        raise PromQLError("PromQL query nested too deeply") from None
    except Exception as exc:  # promql-parser raises ValueError and friends
        shown = repr(expr) if len(expr) <= 200 else repr(expr[:200]) + "..."
        raise PromQLError(f"cannot parse PromQL {shown}: {exc}") from None
    with _cache_lock:
        if expr not in _cache:
            _cache[expr] = (node, weight)
            _cache_weight += weight
        while _cache_weight > CACHE_BUDGET and _cache:
            _cache_weight -= _cache.popitem(last=False)[1][1]
    return node
