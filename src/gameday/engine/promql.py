"""Instant-query evaluation of a PromQL subset over a :class:`SampleStore`.

Parsing is promql-parser's; evaluation follows Prometheus 2.x. Supported: instant and
range selectors (= != =~ !~, ``offset``), rate/increase/delta, *_over_time (sum, count,
avg, max, min, last), vector(), scalar(), time(), round(), abs(), sum/min/max/avg/count by|without,
arithmetic, comparisons (filtering and ``bool``), and/or/unless, on/ignoring with
group_left/group_right, number literals, parentheses and unary minus. Anything else
raises :class:`PromQLError` naming the construct.
"""

from __future__ import annotations

import math
from datetime import timedelta

import promql_parser as pp

from gameday.engine import promql_functions as fn
from gameday.engine import windowstats
from gameday.engine.promql_parse import PromQLError, parse, validate_query
from gameday.engine.store import Labels, SampleStore, to_ms

__all__ = ["Matrix", "PromQLError", "Vector", "drop_name", "evaluate", "parse",
           "validate_query"]

Vector = list[tuple[Labels, float]]

_MATCH_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=",
              "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
_AGGREGATIONS = {"sum", "min", "max", "avg", "count"}
# Selector node -> its matchers: rules evaluate the same (cached) parse trees every tick.
_MATCHERS: dict[int, tuple[object, list[tuple[str, str, str]]]] = {}
_MATCHERS_CACHE = 4096


class Matrix(list):
    """Range-vector value: (labels, times, values) triples plus the selector's window."""

    def __init__(self, items, start_ms: int, end_ms: int, range_s: float) -> None:
        super().__init__(items)
        self.start_ms, self.end_ms, self.range_s = start_ms, end_ms, range_s


def evaluate(store: SampleStore, expr: str | object, t: float) -> Vector | float:
    """Value of ``expr`` at time ``t`` (seconds): a vector of (labels, value) or a scalar."""
    text = expr if isinstance(expr, str) else str(expr)
    node = parse(expr) if isinstance(expr, str) else expr
    try:
        result = _Evaluator(store, to_ms(t), text).eval(node)
    except RecursionError:  # the bounds in validate_query keep this out of reach
        raise PromQLError("PromQL query nested too deeply") from None
    if isinstance(result, Matrix):
        raise PromQLError(f"range vector result is not supported as a query result in: {text}")
    return result


def drop_name(labels: Labels) -> Labels:
    return tuple(kv for kv in labels if kv[0] != "__name__")


def _seconds(delta: timedelta | None) -> float:
    return 0.0 if delta is None else delta.total_seconds()


class _Evaluator:
    def __init__(self, store: SampleStore, t_ms: int, text: str) -> None:
        self.store, self.t_ms, self.text = store, t_ms, text

    def unsupported(self, what: str) -> PromQLError:
        return PromQLError(f"unsupported PromQL {what} in: {self.text}")

    def eval(self, node):
        handler = _DISPATCH.get(type(node))
        if handler is not None:
            return handler(self, node)
        if isinstance(node, pp.SubqueryExpr):
            raise self.unsupported(f"subquery '{node}'")
        if isinstance(node, pp.StringLiteral):
            raise self.unsupported(f"string literal '{node}'")
        raise self.unsupported(f"expression '{node}'")

    def number(self, node) -> float:
        return float(node.val)

    def paren(self, node):
        return self.eval(node.expr)

    def unary(self, node):
        value = self.eval(node.expr)
        if isinstance(value, float):
            return -value
        return [(drop_name(k), -v) for k, v in value]

    # -- selectors -------------------------------------------------------------------
    def _matchers(self, vs) -> list[tuple[str, str, str]]:
        hit = _MATCHERS.get(id(vs))
        if hit is not None and hit[0] is vs:
            return hit[1]
        matchers = self._read_matchers(vs)
        if len(_MATCHERS) >= _MATCHERS_CACHE:
            _MATCHERS.clear()
        _MATCHERS[id(vs)] = (vs, matchers)  # the node is kept: its id is not reused
        return matchers

    def _read_matchers(self, vs) -> list[tuple[str, str, str]]:
        if vs.at is not None:
            raise self.unsupported(f"'@' modifier in '{vs}'")
        if vs.matchers.or_matchers:
            raise self.unsupported(f"'or' label matchers in '{vs}'")
        matchers = []
        if vs.name:
            matchers.append(("__name__", "=", vs.name))
        for m in vs.matchers.matchers:
            op = _MATCH_OPS.get(str(m.op))
            if op is None:
                raise self.unsupported(f"label matcher '{m.op}' in '{vs}'")
            matchers.append((m.name, op, m.value))
        return matchers

    def select(self, vs) -> Vector:
        ref = self.t_ms - to_ms(_seconds(vs.offset))
        out = []
        for key, ring in self.store.series(self._matchers(vs)):
            value = self.store.instant(ring, ref)
            if value is not None:
                out.append((key, value))
        return out

    def select_range(self, ms) -> Matrix:
        vs = ms.vector_selector
        end = self.t_ms - to_ms(_seconds(vs.offset))
        range_s = _seconds(ms.range)
        start = end - to_ms(range_s)
        items = []
        for key, ring in self.store.series(self._matchers(vs)):
            ts, values = self.store.window_columns(ring, start, end)
            if ts:
                items.append((key, ts, values))
        return Matrix(items, start, end, range_s)

    # -- functions ---------------------------------------------------------------------
    def call(self, node):
        name = node.func.name
        args = list(node.args)
        if name in fn.RATE_LIKE or name in fn.OVER_TIME:
            if len(args) != 1 or not isinstance(args[0], pp.MatrixSelector):
                raise self.unsupported(f"call '{node}' (expects a range selector)")
            out = []
            for key, value in self.window_function(name, args[0]):
                if value is not None:
                    out.append((key if name == "last_over_time" else drop_name(key), value))
            if len({key for key, _ in out}) != len(out):
                raise PromQLError(f"vector cannot contain metrics with the same labelset "
                                  f"(after '{name}' drops the metric name) in: {self.text}")
            return out
        if name == "vector":
            value = self.scalar_arg(node, args)
            return [((), value)]
        if name == "scalar":
            value = self.eval(args[0])
            if isinstance(value, list):
                return value[0][1] if len(value) == 1 else math.nan
            return value
        if name in ("round", "abs"):
            vector = self.eval(args[0])
            nearest = self.scalar_arg(node, args[1:]) if len(args) > 1 else 1.0
            if name == "abs":
                return [(drop_name(k), abs(v)) for k, v in vector]
            inverse = 1.0 / nearest  # as Prometheus: fewer accuracy issues
            return [(drop_name(k), math.floor(v * inverse + 0.5) / inverse
                     if math.isfinite(v) else v) for k, v in vector]
        if name == "time":
            return self.t_ms / 1000
        if name in fn.HISTOGRAM:
            if len(args) != 2:
                raise self.unsupported(f"call '{node}' (expects a quantile and a vector)")
            q = self.scalar_arg(node, args[:1])
            vector = self.eval(args[1])
            if not isinstance(vector, list) or isinstance(vector, Matrix):
                raise PromQLError(f"expected an instant vector in '{node}' in: {self.text}")
            return fn.HISTOGRAM[name](q, vector)
        raise self.unsupported(f"function '{name}'")

    def window_function(self, name: str, ms) -> list[tuple[Labels, float | None]]:
        """``name(selector[range])`` per series; long windows are not read point by point
        (windowstats.py)."""
        if windowstats.is_incremental(name):
            vs = ms.vector_selector
            end = self.t_ms - to_ms(_seconds(vs.offset))
            range_s = _seconds(ms.range)
            start = end - to_ms(range_s)
            out = []
            for key, ring in self.store.series(self._matchers(vs)):
                if name in fn.RATE_LIKE:
                    counter, is_rate = fn.RATE_LIKE[name]
                    value = windowstats.rate(ring, start, end, range_s, counter, is_rate)
                else:
                    value = windowstats.over_time(name, ring, start, end)
                out.append((key, value))
            return out
        matrix = self.select_range(ms)
        return [(key, fn.OVER_TIME[name](values)) for key, _, values in matrix]

    def scalar_arg(self, node, args) -> float:
        value = self.eval(args[0])
        if not isinstance(value, float):
            raise PromQLError(f"expected a scalar argument to '{node}' in: {self.text}")
        return value

    # -- aggregation ---------------------------------------------------------------------
    def aggregate(self, node):
        op = str(node.op)
        if op not in _AGGREGATIONS:
            raise self.unsupported(f"aggregation '{op}'")
        if node.param is not None:
            raise self.unsupported(f"aggregation parameter in '{node}'")
        value = self.eval(node.expr)
        if not isinstance(value, list) or isinstance(value, Matrix):
            raise PromQLError(f"expected an instant vector in '{node}' in: {self.text}")
        labels, without = [], False
        if node.modifier is not None:
            labels = list(node.modifier.labels)
            without = str(node.modifier.type) == "AggModifierType.Without"
        return fn.aggregate(op, value, labels, without)

    # -- binary operators --------------------------------------------------------------
    def binary(self, node):
        op = str(node.op)
        modifier = node.modifier
        return_bool = bool(modifier and modifier.return_bool)
        lhs, rhs = self.eval(node.lhs), self.eval(node.rhs)
        if isinstance(lhs, Matrix) or isinstance(rhs, Matrix):
            raise PromQLError(f"binary operator '{op}' on a range vector in: {self.text}")
        if op not in fn.ARITHMETIC and op not in fn.COMPARISONS and op not in fn.SET_OPS:
            raise self.unsupported(f"binary operator '{op}'")
        if isinstance(lhs, float) and isinstance(rhs, float):
            if op in fn.COMPARISONS:
                return 1.0 if fn.COMPARISONS[op](lhs, rhs) else 0.0
            return fn.arithmetic(op, lhs, rhs)
        if isinstance(lhs, float) or isinstance(rhs, float):
            return self.vector_scalar(op, lhs, rhs, return_bool)
        return self.vector_vector(op, lhs, rhs, modifier, return_bool)

    def vector_scalar(self, op, lhs, rhs, return_bool) -> Vector:
        swap = isinstance(lhs, float)
        vector, scalar = (rhs, lhs) if swap else (lhs, rhs)
        out = []
        for key, v in vector:
            lv, rv = (scalar, v) if swap else (v, scalar)
            if op in fn.COMPARISONS:
                keep = fn.COMPARISONS[op](lv, rv)
                if return_bool:
                    out.append((drop_name(key), 1.0 if keep else 0.0))
                elif keep:
                    out.append((key, v))
            else:
                out.append((drop_name(key), fn.arithmetic(op, lv, rv)))
        return out

    def vector_vector(self, op, lhs: Vector, rhs: Vector, modifier, return_bool) -> Vector:
        matching = modifier.matching if modifier else None
        on = matching is not None and str(matching.type) == "LabelModifierType.Include"
        names = list(matching.labels) if matching is not None else []
        card = str(modifier.card) if modifier else "VectorMatchCardinality.OneToOne"
        include = list(modifier.group_labels or []) if modifier else []

        def signature(key: Labels) -> Labels:
            if on:
                return tuple(kv for kv in key if kv[0] in names)
            return tuple(kv for kv in key if kv[0] not in names and kv[0] != "__name__")

        if op in fn.SET_OPS:
            return self.set_op(op, lhs, rhs, signature)
        swap = card.endswith("OneToMany")
        many, one = (rhs, lhs) if swap else (lhs, rhs)
        one_side: dict[Labels, tuple[Labels, float]] = {}
        for key, v in one:
            sig = signature(key)
            if sig in one_side:
                side = "left" if swap else "right"
                raise PromQLError(f"many-to-many matching not allowed: found duplicate series "
                                  f"for the match group {dict(sig)} on the {side} hand-side "
                                  f"of the operation in: {self.text}")
            one_side[sig] = (key, v)
        out, seen = [], set()
        for key, v in many:
            sig = signature(key)
            if sig not in one_side:
                continue
            okey, ov = one_side[sig]
            lv, rv = (ov, v) if swap else (v, ov)
            if op in fn.COMPARISONS:
                keep = fn.COMPARISONS[op](lv, rv)
                if not keep and not return_bool:
                    continue
                value = (1.0 if keep else 0.0) if return_bool else lv
            else:
                value = fn.arithmetic(op, lv, rv)
            result = self.result_labels(op, key, okey, card, on, names, include)
            if return_bool:
                result = drop_name(result)
            if card.endswith("OneToOne") and sig in seen:
                raise PromQLError(f"multiple matches for labels {dict(sig)}: many-to-one "
                                  f"matching must be explicit (group_left/group_right) "
                                  f"in: {self.text}")
            seen.add(sig)
            out.append((result, value))
        keys = [k for k, _ in out]
        if len(set(keys)) != len(keys):
            raise PromQLError(f"multiple matches for labels: many-to-one matching must be "
                              f"explicit (group_left/group_right) in: {self.text}")
        return out

    @staticmethod
    def result_labels(op, many_key, one_key, card, on, names, include) -> Labels:
        labels = dict(many_key)
        if op in fn.ARITHMETIC:
            labels.pop("__name__", None)
        if card.endswith("OneToOne"):
            if on:
                labels = {k: v for k, v in labels.items() if k in names}
            else:
                for name in names:
                    labels.pop(name, None)
        rlabels = dict(one_key)
        for name in include:
            if rlabels.get(name):
                labels[name] = rlabels[name]
            else:
                labels.pop(name, None)
        return tuple(sorted(labels.items()))

    @staticmethod
    def set_op(op, lhs: Vector, rhs: Vector, signature) -> Vector:
        rsigs = {signature(k) for k, _ in rhs}
        if op == "and":
            return [(k, v) for k, v in lhs if signature(k) in rsigs]
        if op == "unless":
            return [(k, v) for k, v in lhs if signature(k) not in rsigs]
        lsigs = {signature(k) for k, _ in lhs}
        return lhs + [(k, v) for k, v in rhs if signature(k) not in lsigs]


_DISPATCH = {
    pp.BinaryExpr: _Evaluator.binary,
    pp.Call: _Evaluator.call,
    pp.AggregateExpr: _Evaluator.aggregate,
    pp.VectorSelector: _Evaluator.select,
    pp.MatrixSelector: _Evaluator.select_range,
    pp.ParenExpr: _Evaluator.paren,
    pp.NumberLiteral: _Evaluator.number,
    pp.UnaryExpr: _Evaluator.unary,
}
