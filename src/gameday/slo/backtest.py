"""Backtest an SLO and alert design on recordings of past incidents.

The measures the SRE Workbook ("Alerting on SLOs") compares alerting approaches with, per
recording and SLO: time to detect, time to reset, pages in quiet periods (precision), and
the error budget the incidents consumed.

How it runs: rules are generated in memory from the (possibly edited) spec with the same
code as ``gameday slo generate`` (``storage.render_files``), loaded as rule groups, and
evaluated at each of the recording's own sample times (one evaluation per scrape round),
as the embedded engine does live, or every ``eval_interval`` as Prometheus schedules a
group (replay.py). The recording streams from disk; the store keeps only the series the
rules read, for the catalog's period, and long windows are not re-read at every
evaluation (engine/windowstats.py): time and memory grow linearly with the recording's
length. Nothing is written to disk.

Ground truth, independent of the alert windows: one extra recording rule per SLO records
the SLI error ratio over the last two scrapes (``resolution``, 2 s at 1 s scrapes: the
"1 minute" of a 30-day SLO scaled to drill time, rounded up to what ``rate()`` needs).
- incident: a run of samples whose ratio exceeds the error budget (burn rate above 1);
  runs less than ``merge_s`` apart merge. Runs that consumed less than ``min_budget`` of
  the period's budget are blips: not incidents, so quiet for scoring.
- budget consumed: sum of burn x sample interval / period (the catalog's period).
- an alert episode (firing -> resolved) belongs to an incident when it overlaps
  [start, end + grace], grace being the longest short window of that severity's alerts
  plus ``resolution``: a multiwindow alert cannot start later than that.
- time to detect: first firing at or after the start (0 if it was already firing);
  time to reset: from the incident end to the last episode resolving (None if still
  firing at the end of the recording; negative when the alerts stopped before the
  incident did, which the text says as "stopped ... before the incident ended").
  Episodes of no incident are quiet-period pages.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from gameday.engine.ruleeval import FIRING, Rule, RuleGroup, parse_duration
from gameday.engine.store import SampleStore, is_stale, to_ms
from gameday.errors import ValidationError

from . import names
from .model import SLO, Catalog
from .replay import Progress, RecordingStream, replay
from .rules import error_ratio_expr, slo_labels
from .storage import render_files

TRUTH = "gameday:backtest_error_ratio"


@dataclass
class Incident:
    start: float  # seconds from the recording start
    end: float
    peak_burn: float
    budget_consumed: float  # fraction of the period's budget
    detect_s: dict[str, float | None] = field(default_factory=dict)  # severity -> TTD
    reset_s: dict[str, float | None] = field(default_factory=dict)  # severity -> TTR


@dataclass
class Episode:
    severity: str
    start: float
    end: float | None  # None: still firing when the recording ends


@dataclass
class SLOResult:
    slo_id: str
    objective: float
    severities: list[str]
    traffic: bool = False
    budget_consumed: float = 0.0
    incidents: list[Incident] = field(default_factory=list)
    blips: int = 0
    episodes: list[Episode] = field(default_factory=list)
    quiet_pages: dict[str, int] = field(default_factory=dict)


@dataclass
class Backtest:
    recording: str
    catalog: str
    duration_s: float
    interval_s: float
    ticks: int
    replay_s: float
    slos: list[SLOResult]

    def as_dict(self) -> dict:
        return _clean(asdict(self))


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# -- design: SLOs + catalog -> rule groups, in memory --------------------------------------
def with_objective(slos: list[SLO], objective: float | None) -> list[SLO]:
    """The SLOs with another target (0..1 or percent), for "what if" runs."""
    if objective is None:
        return slos
    target = objective / 100 if objective >= 1 else objective
    if not 0 < target < 1:
        raise ValidationError(f"--objective: must be between 0 and 100 (percent) or 0 and 1, "
                              f"got {objective!r}")
    return [replace(s, target=target) for s in slos]


def build_groups(slos: list[SLO], catalog: Catalog, resolution_s: float) -> list[RuleGroup]:
    """The generated rules (as ``gameday slo generate`` would write them) plus the truth."""
    groups = []
    for name, text in render_files(slos, catalog).items():
        if name.endswith(".rules.yml"):
            for raw in yaml.safe_load(text)["groups"]:
                groups.append(_group(raw, f"<memory>/{catalog.name}/{name}"))
    window = names.format_duration(resolution_s)
    truth = [Rule(TRUTH, error_ratio_expr(slo, window), "record", 0.0, slo_labels(slo))
             for slo in slos]
    groups.append(RuleGroup("gameday-backtest-truth", 0.0, truth, "<memory>"))
    return groups


def _group(raw: dict, source: str) -> RuleGroup:
    rules = []
    for r in raw["rules"]:
        kind = "record" if "record" in r else "alert"
        for_s = parse_duration(r["for"], f"{source}: for") if r.get("for") else 0.0
        rules.append(Rule(str(r[kind]), str(r["expr"]), kind, for_s,
                          {k: str(v) for k, v in (r.get("labels") or {}).items()},
                          {k: str(v) for k, v in (r.get("annotations") or {}).items()}))
    return RuleGroup(str(raw["name"]), 0.0, rules, source)  # due at every sample time


# -- replay --------------------------------------------------------------------------------
def run_backtest(recording: Path, slos: list[SLO], catalog: Catalog,
                 min_budget: float = 0.001, merge_s: float = 30.0,
                 eval_interval: float | None = None, progress: Progress | None = None,
                 offsets: dict[str, float] | None = None,
                 store: SampleStore | None = None,
                 skip: Callable[[float], bool] | None = None) -> Backtest:
    """Replay ``recording`` through the rules of ``slos`` (valid input assumed).

    ``eval_interval``: evaluate at multiples of it (as Prometheus and promtool's backfill
    schedule a group; ``offsets`` per group name) instead of at each scrape round.
    ``store``: the store to fill (a caller can read the recorded series afterwards).
    ``skip(t)``: instants not to evaluate (to mirror promtool's backfill gaps)."""
    began = time.perf_counter()
    stream = RecordingStream(recording)
    header = stream.header
    stream.close()
    interval = float(header.get("interval_s") or 1.0)
    resolution = max(2 * (eval_interval or interval), 2 * interval, 1.0)
    groups = build_groups(slos, catalog, resolution)
    if store is None:
        step = min(interval, eval_interval or interval)
        store = SampleStore(max_age=catalog.period_s + 2 * resolution,
                            max_points=max(20_000, int(catalog.period_s / step) + 10))
    start = float(header["started_at"])
    truth: dict[str, list[tuple[float, float]]] = {s.id: [] for s in slos}
    firing: dict[tuple[str, str], float] = {}
    episodes: dict[str, list[Episode]] = {s.id: [] for s in slos}
    ticks: list[float] = []

    def tick(t: float) -> None:
        ticks.append(t)
        t_ms = to_ms(t)
        for labels, ring in store.series([("__name__", "=", TRUTH)]):
            if len(ring) and ring.last_ts == t_ms and not is_stale(ring.ovs[-1]):
                truth.setdefault(dict(labels)[names.LABEL_ID], []).append((t, ring.ovs[-1]))
        now = set()
        for group in groups:
            for alert in group.alerts():
                if alert.state == FIRING:
                    lbl = dict(alert.labels)
                    now.add((lbl.get(names.LABEL_ID, ""), lbl.get(names.LABEL_SEVERITY, "page")))
        for key in now - firing.keys():
            firing[key] = t
        for key in set(firing) - now:
            episodes.setdefault(key[0], []).append(Episode(key[1], firing.pop(key) - start,
                                                           t - start))

    replay(recording, groups, store, tick, eval_interval, offsets, progress, skip)
    for (sid, severity), since in firing.items():
        episodes.setdefault(sid, []).append(Episode(severity, since - start, None))
    step = eval_interval or interval
    results = [score(slo, catalog, [(t - start, v) for t, v in truth[slo.id]],
                     sorted(episodes[slo.id], key=lambda e: e.start), step, resolution,
                     min_budget, merge_s) for slo in slos]
    duration = (ticks[-1] - start) if ticks else 0.0
    return Backtest(str(recording), catalog.name, duration, step, len(ticks),
                    time.perf_counter() - began, results)


# -- scoring -------------------------------------------------------------------------------
def find_incidents(samples: list[tuple[float, float]], budget: float, period_s: float,
                   interval_s: float, merge_s: float) -> list[Incident]:
    """Runs of ``(t, error ratio)`` above ``budget``, merged when closer than ``merge_s``."""
    out: list[Incident] = []
    prev_t = None
    for t, ratio in samples:
        dt = interval_s if prev_t is None else min(t - prev_t, interval_s * 2)
        prev_t = t
        if ratio <= budget:
            continue
        burn = ratio / budget
        if out and t - out[-1].end <= merge_s:
            inc = out[-1]
            inc.end, inc.peak_burn = t, max(inc.peak_burn, burn)
        else:
            inc = Incident(t, t, burn, 0.0)
            out.append(inc)
        inc.budget_consumed += burn * dt / period_s
    return out


def consumed(samples: list[tuple[float, float]], budget: float, period_s: float,
             interval_s: float) -> float:
    total, prev_t = 0.0, None
    for t, ratio in samples:
        dt = interval_s if prev_t is None else min(t - prev_t, interval_s * 2)
        prev_t = t
        total += ratio / budget * dt / period_s
    return total


def score(slo: SLO, catalog: Catalog, samples: list[tuple[float, float]],
          episodes: list[Episode], interval_s: float, resolution_s: float,
          min_budget: float, merge_s: float) -> SLOResult:
    severities = [s for s in slo.severities if any(a.severity == s for a in catalog.alerts)]
    budget = slo.error_budget
    found = find_incidents(samples, budget, catalog.period_s, interval_s, merge_s)
    for inc in found:  # the truth window still sees the errors for resolution - interval
        inc.end = max(inc.start, inc.end - (resolution_s - interval_s))
    incidents = [i for i in found if i.budget_consumed >= min_budget]
    result = SLOResult(slo.id, slo.target, severities, traffic=bool(samples),
                       budget_consumed=consumed(samples, budget, catalog.period_s, interval_s),
                       incidents=incidents, blips=len(found) - len(incidents),
                       episodes=episodes)
    claimed: set[int] = set()
    for inc in incidents:
        for severity in severities:
            grace = max(a.short_s for a in catalog.alerts if a.severity == severity)
            mine = [(n, e) for n, e in enumerate(episodes) if e.severity == severity
                    and e.start <= inc.end + grace + resolution_s
                    and (e.end is None or e.end > inc.start)]
            claimed.update(n for n, _ in mine)
            if not mine:
                inc.detect_s[severity] = inc.reset_s[severity] = None
                continue
            inc.detect_s[severity] = max(0.0, mine[0][1].start - inc.start)
            ends = [e.end for _, e in mine]
            inc.reset_s[severity] = None if None in ends else max(ends) - inc.end
    result.quiet_pages = {s: sum(1 for n, e in enumerate(episodes)
                                 if e.severity == s and n not in claimed) for s in severities}
    return result


# -- rendering -----------------------------------------------------------------------------
def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds >= 3600:
        return f"{sign}{seconds / 3600:.1f}h"
    whole = round(seconds)  # 299.6 s is 5m00s, not 4m60s
    if whole >= 60:
        return f"{sign}{whole // 60}m{whole % 60:02d}s"
    return f"{sign}{whole}s"


def reset_text(reset_s: float | None) -> str:
    """When the alerts stopped, against the incident's end. Negative: they stopped while the
    SLI still burnt budget faster than allowed (the alert's windows forgot the incident)."""
    if reset_s is None:
        return "still firing at the end"
    if reset_s < 0:
        return f"stopped {fmt_s(-reset_s)} before the incident ended"
    return f"reset {fmt_s(reset_s)} after the end"


def render(results: list[tuple[str, Backtest]]) -> str:
    """One block per (design, recording): incidents, detection, reset, quiet pages."""
    lines = []
    for design, bt in results:
        speed = bt.duration_s / bt.replay_s if bt.replay_s > 0 else math.inf
        lines.append(f"{bt.recording}: {fmt_s(bt.duration_s)} at {bt.interval_s:g}s, "
                     f"{bt.ticks} evaluations in {bt.replay_s:.1f}s ({speed:.0f}x real time)")
        lines.append(f"  design: {design}, catalog {bt.catalog}")
        for r in bt.slos:
            head = f"  {r.slo_id} (objective {r.objective * 100:.6g}%)"
            if not r.traffic:
                lines.append(f"{head}: no traffic in this recording")
                continue
            quiet = ", ".join(f"{s} {n}" for s, n in r.quiet_pages.items()) or "-"
            lines.append(f"{head}: {len(r.incidents)} incident(s), {r.blips} blip(s), "
                         f"budget consumed {r.budget_consumed * 100:.1f}%, "
                         f"quiet-period alerts: {quiet}")
            for n, inc in enumerate(r.incidents, 1):
                lines.append(f"    incident {n}: +{fmt_s(inc.start)} .. +{fmt_s(inc.end)}, "
                             f"peak burn {inc.peak_burn:.0f}x, "
                             f"{inc.budget_consumed * 100:.1f}% of the budget")
                for sev in r.severities:
                    if inc.detect_s.get(sev) is None:
                        lines.append(f"      {sev:<6} not detected")
                        continue
                    lines.append(f"      {sev:<6} detected after {fmt_s(inc.detect_s[sev])}, "
                                 + reset_text(inc.reset_s[sev]))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
