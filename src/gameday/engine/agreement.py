"""Do the two engines agree on the live stack? Their stored ``slo:*`` samples, point by point.

Both engines run the same rule files on the same slots (``gameday.engine.schedule``), so a
recording rule's samples carry the same millisecond timestamps in both. The comparison
reads each engine's *stored* samples of every ``slo:*`` recording rule through the
Prometheus query API (an instant query of ``name[range]`` at ``time=`` answers the raw
points, with their timestamps) and pairs them on (labels, timestamp). That compares what a
learner's dashboards and alerts read, through the whole live pipeline (scrape timing,
staleness, schedule, rule chain), not just the PromQL arithmetic.

What may differ, and the tolerance that follows (all stated per point, ``d`` = scrape
interval, ``w`` = the rule's window, ``r`` = the larger of the two values):

- Each engine scrapes on its own grid, up to ``d`` apart, so each window edge may hold up
  to ``d`` of traffic in one engine that the other does not count. For an error ratio
  ``B / N`` over ``w``, that slice moves ``N`` by about ``N * d / w`` (the ratio by
  ``r * d / w``) and ``B`` by the errors in the slice: at most all the errors of the
  window (``r``), and at most the slice's share of requests times the highest error ratio
  a slice can have (``R_edge * d / w``). Per edge: ``min(r, R_edge * d / w) + r * d / w``;
  two edges, and traffic uneven within a second (x1.5): ``3 * (...)``. ``R_edge`` is the
  highest short-window ratio the SLI showed in the run scaled to one scrape interval
  (``min(1, R_short * w_short / d)``: all of a short window's errors in one slice). A
  window longer than the traffic so far counts only the traffic: ``w`` is then the time
  since the traffic started.
- Burn rates are ratios divided by the error budget: the ratio's tolerance / budget.
- The period ratio averages the short-window ratio's samples since each engine started:
  at most the mean tolerance of those samples, plus ``r`` times the share of samples one
  engine holds and the other does not (Prometheus starts before the embedded monitor does;
  its extra samples change the count the sum is divided by).
- Constants (objective, budget, period) must be equal.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field

import httpx

from gameday.engine.ruleeval import parse_duration

RATIO = re.compile(r"^slo:sli_error:ratio_rate(\w+)$")
CONSTANTS = {"slo:objective:ratio", "slo:error_budget:ratio", "slo:time_period:days"}
EDGE_FACTOR = 3.0  # two window edges x 1.5 for traffic uneven within a scrape interval


@dataclass
class Point:
    name: str
    labels: tuple
    ts: float
    a: float  # reference engine (Prometheus)
    b: float  # engine under test (embedded)
    tol: float = 0.0

    @property
    def diff(self) -> float:
        if math.isnan(self.a) and math.isnan(self.b):
            return 0.0
        return abs(self.a - self.b)

    @property
    def rel(self) -> float:
        scale = max(abs(self.a), abs(self.b))
        return self.diff / scale if scale > 0 else (0.0 if self.diff == 0 else math.inf)

    @property
    def share(self) -> float:
        """How much of its tolerance the difference uses (over 1: outside)."""
        if self.diff == 0:
            return 0.0
        if math.isnan(self.diff) or self.tol <= 0:
            return math.inf
        return self.diff / self.tol

    @property
    def ok(self) -> bool:
        return self.diff <= self.tol  # a NaN on one side only is never ok


@dataclass
class Comparison:
    points: list[Point] = field(default_factory=list)
    only_a: int = 0  # samples one engine stored at a timestamp where the other stored none
    only_b: int = 0
    names: list[str] = field(default_factory=list)

    def failures(self) -> list[Point]:
        return [p for p in self.points if not p.ok]

    def families(self) -> dict[str, dict]:
        """Per recording rule: count, median and worst absolute and relative difference,
        largest tolerance, the largest share of its tolerance a point used (``closest``),
        and how many points fell outside their tolerance."""
        out: dict[str, dict] = {}
        for name in sorted({p.name for p in self.points}):
            pts = [p for p in self.points if p.name == name]
            diffs = [p.diff for p in pts if not math.isnan(p.diff)]
            rels = [p.rel for p in pts if not math.isnan(p.rel) and not math.isinf(p.rel)]
            out[name] = {"points": len(pts),
                         "median_abs": statistics.median(diffs) if diffs else math.nan,
                         "worst_abs": max(diffs) if diffs else math.nan,
                         "median_rel": statistics.median(rels) if rels else math.nan,
                         "worst_rel": max(rels) if rels else math.nan,
                         "max_tol": max(p.tol for p in pts),
                         "closest": max((p.share for p in pts), default=0.0),
                         "outside": sum(not p.ok for p in pts)}
        return out


def recording_names(url: str, prefix: str = "slo:") -> list[str]:
    """Names of the recording rules a Prometheus(-compatible) API evaluates."""
    groups = _get(url, "/api/v1/rules", {})["groups"]
    return sorted({r["name"] for g in groups for r in g["rules"]
                   if r["type"] == "recording" and r["name"].startswith(prefix)})


def stored(url: str, selector: str, at: float, range_s: float) -> dict[tuple, dict[int, float]]:
    """``{labels: {timestamp in ms: value}}``: the raw points in ``(at - range_s, at]``."""
    data = _get(url, "/api/v1/query", {"query": f"{selector}[{int(range_s * 1000)}ms]",
                                       "time": f"{at:.3f}"})
    out = {}
    for series in data["result"]:
        key = tuple(sorted(series["metric"].items()))
        out[key] = {int(round(float(t) * 1000)): float(v) for t, v in series["values"]}
    return out


def instant(url: str, expr: str, at: float) -> dict[tuple, float]:
    data = _get(url, "/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in data["result"]}


def _get(url: str, path: str, params: dict) -> dict:
    resp = httpx.get(url.rstrip("/") + path, params=params, timeout=30)
    body = resp.json()
    if body.get("status") != "success":
        raise ValueError(f"{url}{path} {params}: {body.get('error', resp.text[:200])}")
    return body["data"]


def sloth_id(labels: tuple) -> str:
    return dict(labels).get("sloth_id", "")


def windows(names: list[str]) -> dict[str, float]:
    """``{record name: window in s}`` of the error-ratio rules."""
    out = {}
    for name in names:
        m = RATIO.match(name)
        if m:
            out[name] = parse_duration(m.group(1), name)
    return out


def compare(url_a: str, url_b: str, start: float, end: float, scrape_interval_s: float = 1.0,
            traffic_start: float | None = None, names: list[str] | None = None) -> Comparison:
    """Pair every ``slo:*`` sample both engines stored in ``(start, end]`` and give each
    pair its tolerance (see the module docstring)."""
    names = names or recording_names(url_a)
    ratio_windows = windows(names)
    short = min(ratio_windows, key=ratio_windows.get)
    period = max(ratio_windows, key=ratio_windows.get)
    raw = {name: (stored(url_a, name, end, end - start), stored(url_b, name, end, end - start))
           for name in names}
    first = traffic_start if traffic_start is not None else start
    shorts = (stored(url_a, short, end, end - first), stored(url_b, short, end, end - first))
    limits = Limits(ratio_windows, scrape_interval_s, traffic_start,
                    _edge_ratios(shorts, ratio_windows[short] / scrape_interval_s))
    budgets = {sloth_id(k): v for k, v in instant(url_a, "slo:error_budget:ratio", end).items()}
    share = _history_share(url_a, url_b, short, end)
    # per SLO, the tolerance of each short-window sample since the traffic started
    short_tols: dict[str, list[tuple[float, float]]] = {}
    for key in set(shorts[0]) & set(shorts[1]):
        pa, pb = shorts[0][key], shorts[1][key]
        short_tols[sloth_id(key)] = [
            (ts / 1000, limits.ratio(short, ts / 1000, _larger(pa[ts], pb[ts]), sloth_id(key)))
            for ts in sorted(set(pa) & set(pb))]
    cmp = Comparison(names=names)
    for name in names:
        side_a, side_b = raw[name]
        for key in set(side_a) | set(side_b):
            pa, pb = side_a.get(key, {}), side_b.get(key, {})
            cmp.only_a += len(set(pa) - set(pb))
            cmp.only_b += len(set(pb) - set(pa))
            sid = sloth_id(key)
            budget = budgets.get(sid, 1.0)
            for ts in sorted(set(pa) & set(pb)):
                t, r = ts / 1000, _larger(pa[ts], pb[ts])
                if name in CONSTANTS:
                    tol = 0.0
                elif name in ratio_windows and name != period:
                    tol = limits.ratio(name, t, r, sid)
                elif name == "slo:current_burn_rate:ratio":
                    tol = limits.ratio(short, t, r * budget, sid) / budget
                elif name in (period, "slo:period_burn_rate:ratio",
                              "slo:period_error_budget_remaining:ratio"):
                    # the larger period error ratio: as stored, burn x budget, (1 - left) x budget
                    ratio = r if name == period else r * budget
                    if name == "slo:period_error_budget_remaining:ratio":
                        ratio = _larger(1 - pa[ts], 1 - pb[ts]) * budget
                    tol = _mean_until(short_tols.get(sid, []), t) + ratio * share.get(sid, 0.0)
                    tol = tol if name == period else tol / budget
                else:
                    tol = 0.0  # an slo:* rule this module does not know: must agree exactly
                cmp.points.append(Point(name, key, t, pa[ts], pb[ts], tol + 1e-9))
    return cmp


@dataclass
class Limits:
    ratio_windows: dict[str, float]
    d: float
    traffic_start: float | None
    r_edge: dict[str, float]

    def ratio(self, name: str, t: float, r: float, sid: str) -> float:
        """Tolerance of the error ratio ``name`` at ``t`` whose larger value is ``r``."""
        w = self.ratio_windows[name]
        if self.traffic_start is not None:
            w = max(self.d, min(w, t - self.traffic_start))
        share = self.d / w
        return EDGE_FACTOR * (min(r, self.r_edge.get(sid, 1.0) * share) + r * share)


def _edge_ratios(shorts, slices: float) -> dict[str, float]:
    """Per SLO: the highest error ratio one scrape interval of traffic can have, from the
    highest short-window ratio either engine stored (all its errors in one slice)."""
    out: dict[str, float] = {}
    for side in shorts:
        for key, points in side.items():
            finite = [v for v in points.values() if not math.isnan(v)]
            highest = min(1.0, max(finite, default=0.0) * slices)
            out[sloth_id(key)] = max(out.get(sloth_id(key), 0.0), highest)
    return out


def _larger(a: float, b: float) -> float:
    values = [abs(v) for v in (a, b) if not math.isnan(v)]
    return max(values, default=0.0)


def _mean_until(points: list[tuple[float, float]], t: float) -> float:
    tols = [tol for ts, tol in points if ts <= t]
    return sum(tols) / len(tols) if tols else 0.0


def _history_share(url_a: str, url_b: str, short: str, at: float) -> dict[str, float]:
    """Per SLO: the share of short-window samples one engine holds and the other does not."""
    expr = f"count_over_time({short}[1d])"
    a, b = instant(url_a, expr, at), instant(url_b, expr, at)
    out = {}
    for key in set(a) | set(b):
        na, nb = a.get(key, 0.0), b.get(key, 0.0)
        out[sloth_id(key)] = abs(na - nb) / max(na, nb, 1.0)
    return out
