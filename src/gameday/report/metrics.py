"""The drill's metrics, from its recording, on a 1-second grid.

Two sources, one pass each:
- the recording replayed into ``EmbeddedEngine`` with the generated rules of the drill
  catalog (the rules the drill itself ran): per SLO, the recorded ``slo:sli_error:ratio_rate<w>``
  series, its error budget and period. Recorded series are read point by point from the
  store (no 5-minute lookback: a series that stops is a gap, not a flat line).
- the raw counters of the gateway, as increases per second (counter resets handled):
  requests, 5xx, fallback answers, and the latency histogram buckets of ``/v1/classify``;
  and its ``gateway_upstream_ejected`` gauge per replica (endpoint URL), held from one
  scrape to the next: which replicas were out of its pool, second by second.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gameday.engine.embedded import EmbeddedEngine
from gameday.engine.exposition import histogram_quantile
from gameday.engine.recording import ingest_scrape, read_recording
from gameday.engine.store import is_stale
from gameday.slo.consumption import BudgetUse, count_events, load_slos_for_rules
from gameday.slo.model import SLO
from gameday.slo.status import window_seconds

GATEWAY = "gateway"
EJECTED = "gateway_upstream_ejected"  # 1 while a replica (label endpoint) is out of the pool
# answers that are not fallbacks: the live model's, and the 5xx the gateway also counts
# as answer="error" (those are failed requests, counted from http_requests_total)
GOOD_ANSWERS = re.compile(r"model|model_degraded|error")
QUANTILES = (0.5, 0.95, 0.99)
CONSTANTS = ("slo:objective:ratio", "slo:error_budget:ratio", "slo:time_period:days")
_RATIO = re.compile(r"^slo:sli_error:ratio_rate(.+)$")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass
class SLOSeries:
    slo_id: str
    objective: float = math.nan
    budget: float = math.nan  # 1 - objective
    period_s: float = math.nan  # the catalog's (compressed) period
    ratios: dict[str, np.ndarray] = field(default_factory=dict)  # window -> error ratio

    @property
    def short_window(self) -> str | None:
        return min(self.ratios, key=window_seconds) if self.ratios else None

    def burn(self, window: str) -> np.ndarray:
        ratio = self.ratios[window]
        return ratio / self.budget if self.budget > 0 else np.full_like(ratio, np.nan)


@dataclass
class DrillMetrics:
    start: float  # Unix seconds of index 0
    step: float
    n: int
    slos: dict[str, SLOSeries]
    requests: np.ndarray  # gateway requests per step (all routes)
    failed: np.ndarray  # gateway 5xx per step
    fallbacks: np.ndarray  # classify answers not from the live model (guesses, cache)
    buckets: dict[float, np.ndarray]  # classify latency: le -> observations per step
    engine: EmbeddedEngine | None = None  # the replayed recording, for event counts
    models: dict[str, SLO] = field(default_factory=dict)  # SLO id -> spec (its indicator)
    ejected: dict[str, np.ndarray] = field(default_factory=dict)  # endpoint URL -> 1 when out

    def out_of_pool(self, endpoints, a: float, b: float) -> list[str]:
        """Those of ``endpoints`` (replica URLs) the gateway had out of its pool at some
        second in [a, b], in the order given."""
        i, j = self.index(a), self.index(b) + 1
        return [e for e in endpoints if e in self.ejected and self.ejected[e][i:j].any()]

    @property
    def times(self) -> np.ndarray:
        return self.start + self.step * np.arange(self.n)

    @property
    def end(self) -> float:
        return self.start + self.step * max(self.n - 1, 0)

    def index(self, t: float) -> int:
        return int(min(max(round((t - self.start) / self.step), 0), self.n))

    def total(self, series: np.ndarray, a: float, b: float) -> float:
        return float(series[self.index(a):self.index(b) + 1].sum())

    def budget_use(self, slo_id: str, a: float, b: float) -> BudgetUse | None:
        """Bad and total events of the SLO in (a, b] and the budget they consumed
        (``gameday.slo.consumption``: the one arithmetic every surface shows)."""
        slo, model = self.slos.get(slo_id), self.models.get(slo_id)
        if slo is None or model is None or self.engine is None:
            return None
        if self.engine is not None:
            b = min(b, last_sample_time(self.engine.store, self.start))
        bad, total = count_events(self.engine, model, a, b)
        return BudgetUse(slo_id, slo.objective, slo.period_s, max(b - a, 0.0), bad, total)

    def budget_consumed(self, slo_id: str, a: float, b: float) -> float | None:
        """Fraction of the period's error budget the SLO's bad events in (a, b] used."""
        use = self.budget_use(slo_id, a, b)
        return None if use is None else use.consumed

    def peak_burn(self, slo_id: str, a: float, b: float) -> float | None:
        slo = self.slos.get(slo_id)
        if slo is None or slo.short_window is None:
            return None
        burn = slo.burn(slo.short_window)[self.index(a):self.index(b) + 1]
        return None if burn.size == 0 or np.all(np.isnan(burn)) else float(np.nanmax(burn))

    def latency_quantiles(self, window_s: float = 5.0) -> dict[float, np.ndarray]:
        """p50/p95/p99 of the classify latency over a rolling window, in seconds (NaN when no
        request finished in the window)."""
        out = {q: np.full(self.n, np.nan) for q in QUANTILES}
        if not self.buckets or math.inf not in self.buckets:
            return out
        width = max(1, int(round(window_s / self.step)))
        kernel = np.ones(width)
        rolled = {le: np.convolve(v, kernel)[: self.n] for le, v in self.buckets.items()}
        les = sorted(rolled)
        for k in range(self.n):
            cumulative = [(le, float(rolled[le][k])) for le in les]
            if cumulative[-1][1] > 0:
                for q in QUANTILES:
                    out[q][k] = histogram_quantile(q, cumulative)
        return out


def last_sample_time(store, default: float) -> float:
    """Unix seconds of the newest sample in ``store`` (a window never reaches past it)."""
    return max((ring[-1][0] / 1000 for _, ring in store.series([]) if len(ring)),
               default=default)


def load_metrics(recording: Path, rule_files: list[Path], step: float = 1.0) -> DrillMetrics:
    """Replay ``recording`` through ``rule_files`` and read the gateway's counters."""
    engine = EmbeddedEngine(rule_files, evaluation_interval_s=step)
    counters = Counters(step)
    header = _replay(engine, recording, step, counters)
    start = float(header["started_at"])
    n = int(round((counters.last - start) / step)) + 1 if counters.last else 1
    slos = _slo_series(engine, start, step, n)
    grid = {k: _pad(v, n) for k, v in counters.bins.items() if isinstance(k, str)}
    buckets = {k[1]: _pad(v, n) for k, v in counters.bins.items() if isinstance(k, tuple)}
    models = {m.id: m for m in load_slos_for_rules(rule_files) if m.id in slos}
    ejected = {url: _hold(points, n) > 0.5 for url, points in counters.ejected.items()}
    return DrillMetrics(start, step, n, slos, grid["requests"], grid["failed"],
                        grid["fallbacks"], buckets, engine, models, ejected)


def _replay(engine: EmbeddedEngine, recording: Path, step: float, counters: Counters) -> dict:
    """``EmbeddedEngine.replay``, lighter: only the recording rules the report reads (alerts
    come from the timeline) and only the metrics they read (as ``slo backtest`` does)."""
    longest = _page_window_s(engine)
    for group in engine.groups:
        group.rules = [r for r in group.rules if _needed(r, longest)]
    engine.groups = [g for g in engine.groups if g.rules]
    wanted = {name for g in engine.groups for r in g.rules for name in _NAME.findall(r.expr)}
    header, scrapes = read_recording(recording)
    start = float(header["started_at"])
    counters.start = counters.last = start
    for scrape in scrapes:
        counters.add(scrape)
        if scrape.samples is not None:
            scrape.samples = [x for x in scrape.samples if x.name in wanted]
        ingest_scrape(engine.store, scrape)
    for k in range(int(round((counters.last - start) / step)) + 1):
        engine.tick(start + k * step)
    return header


def _page_window_s(engine: EmbeddedEngine) -> float:
    """The longest error-ratio window the page alerts read (6m in drill-12h)."""
    windows = [window_seconds(w) for g in engine.groups for r in g.rules
               if r.kind == "alert" and r.labels.get("sloth_severity", "page") == "page"
               for w in re.findall(r"slo:sli_error:ratio_rate(\w+)", r.expr)]
    return max(windows, default=math.inf)


def _needed(rule, longest_s: float) -> bool:
    """Ratios over windows up to the longest page window, and the SLO's constants."""
    if rule.kind != "record":
        return False
    match = _RATIO.match(rule.name)
    if match:
        return window_seconds(match.group(1)) <= longest_s
    return rule.name in CONSTANTS


def _pad(values: dict[int, float], n: int) -> np.ndarray:
    out = np.zeros(n)
    for i, v in values.items():
        if 0 <= i < n:
            out[i] += v
    return out


def _hold(points: dict[int, float], n: int) -> np.ndarray:
    """A gauge's value at each step: the last scrape's at or before it (0 before the first)."""
    out = np.full(n, np.nan)
    for i, v in points.items():
        if 0 <= i < n:
            out[i] = v
    known = np.where(np.isnan(out), 0, np.arange(n))
    np.maximum.accumulate(known, out=known)  # index of the last scrape at or before each
    held = out[known]
    return np.where(np.isnan(held), 0.0, held)


def _slo_series(engine: EmbeddedEngine, start: float, step: float, n: int) -> dict:
    slos: dict[str, SLOSeries] = {}
    store = engine.store

    def points(name: str):
        for labels, ring in store.series([("__name__", "=", name)]):
            yield dict(labels), ring

    for name, attr in zip(CONSTANTS, ("objective", "budget", "period_s"), strict=True):
        for labels, ring in points(name):
            sid = labels.get("sloth_id", "")
            values = [v for _, v in ring if not math.isnan(v)]
            if values:
                slo = slos.setdefault(sid, SLOSeries(sid))
                setattr(slo, attr, values[-1] * (86400 if attr == "period_s" else 1))
    for labels, ring in store.series([("__name__", "=~", "slo:sli_error:ratio_rate.+")]):
        labels = dict(labels)
        match = _RATIO.match(labels.get("__name__", ""))
        sid = labels.get("sloth_id", "")
        if not match or sid not in slos:
            continue
        series = np.full(n, np.nan)
        for ts, v in ring:
            i = int(round((ts / 1000 - start) / step))
            if 0 <= i < n and not is_stale(v):
                series[i] = v
        slos[sid].ratios[match.group(1)] = series
    for slo in slos.values():
        if math.isnan(slo.budget):
            slo.budget = 1 - slo.objective
    return dict(sorted(slos.items()))


class Counters:
    """Per-step increases of the gateway counters the report shows, scrape by scrape."""

    def __init__(self, step: float) -> None:
        self.step, self.start, self.last = step, 0.0, 0.0
        self.bins: dict = {"requests": {}, "failed": {}, "fallbacks": {}}
        self.ejected: dict[str, dict[int, float]] = {}  # endpoint -> step -> gauge value
        self._previous: dict[tuple, float] = {}
        self._targets: set[tuple[str, str]] = set()

    def add(self, scrape) -> None:
        self.last = max(self.last, scrape.t)
        if not scrape.samples:
            return
        i = int((scrape.t - self.start) // self.step)
        known = (scrape.job, scrape.instance) in self._targets
        self._targets.add((scrape.job, scrape.instance))
        for s in scrape.samples:
            if s.name == EJECTED and not math.isnan(s.value):
                endpoint = dict(s.labels).get("endpoint")
                if endpoint:
                    self.ejected.setdefault(endpoint, {})[i] = s.value
                continue
            keys = _bin(scrape.job, s)
            if keys is None:
                continue
            series = (scrape.job, scrape.instance, s.name, s.labels)
            # a series born after its target's first scrape started from 0 (client libraries
            # create labelled series on their first increment)
            before = self._previous.get(series, 0.0 if known else None)
            self._previous[series] = s.value
            if before is None or math.isnan(s.value):
                continue
            delta = s.value - before if s.value >= before else s.value  # a reset
            for k in keys:
                slot = self.bins.setdefault(k, {})
                slot[i] = slot.get(i, 0.0) + delta


def _bin(job: str, s) -> list | None:
    labels = dict(s.labels)
    if labels.get("service", job) != GATEWAY:
        return None
    if s.name == "http_requests_total":
        return ["requests", "failed"] if labels.get("code", "").startswith("5") else ["requests"]
    if s.name == "gateway_classify_answers_total":
        return None if GOOD_ANSWERS.fullmatch(labels.get("answer", "")) else ["fallbacks"]
    if s.name == "http_request_duration_seconds_bucket" and labels.get("route") == "/v1/classify":
        return [("le", float(labels.get("le", "nan")))]
    return None
