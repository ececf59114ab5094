"""The embedded engine attached to a running stack: scrape, record, evaluate, publish.

Started by the supervisor once every process is ready. Each second it scrapes every
process into the embedded store, appends the scrape to ``<run>/recording.jsonl.gz``,
evaluates the generated SLO rules (on Prometheus's schedule, see
``gameday.engine.schedule``), and writes ``<run>/slo-status.json`` (what
``gameday slo status`` shows for a live run), with a count of the rule evaluations that
ran late or were skipped: when the machine is too busy, the log and the drill say so. It
also serves the engine through a Prometheus-compatible query API on loopback
(``embedded_url`` in stack.json; see ``gameday.engine.queryapi``). A failure here never
takes the stack down.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from gameday.runfolder import Run, atomic_write
from gameday.slo.names import DRILL_CATALOG

log = logging.getLogger("gameday.stack.monitor")

DEFAULT_CATALOG = DRILL_CATALOG
WARN_EVERY_S = 30.0  # at most one "fell behind" warning in the log per this many seconds


def default_rules_dir(catalog: str = DEFAULT_CATALOG) -> Path | None:
    """``slos/_gen/<catalog>`` of the SLO specs in use (gameday.resources); None if it has
    no rules (the stack then runs without SLO rules, and says so)."""
    from gameday.errors import GamedayError
    from gameday.resources import rules_dir

    try:
        return rules_dir(catalog)
    except GamedayError:
        return None


class Monitor:
    def __init__(self, run_path: Path, targets: dict[str, list[str]],
                 rules_dir: Path | None, interval_s: float = 1.0) -> None:
        from gameday.engine.embedded import EmbeddedEngine

        self.run_path = Path(run_path)
        self.run = Run(self.run_path)
        self.targets = targets
        from gameday.resources import rule_files

        files = rule_files(rules_dir)
        self.rules_dir = rules_dir
        self.engine = EmbeddedEngine(files)
        self.interval_s = interval_s
        self._last_status = 0.0
        self._warned = (0.0, 0, 0)  # (time, late, missed) at the last warning
        self._started = time.time()
        self.server = None

    @property
    def url(self) -> str | None:
        """The Prometheus-compatible query API of the embedded engine."""
        return self.server.url if self.server is not None else None

    def start(self, serve: bool = True) -> Monitor:
        from gameday.engine.queryapi import QueryServer

        self._started = time.time()
        self.engine.start_scraping(self.targets, self.interval_s,
                                   recording=self.run.recording)
        self.engine.scraper.on_tick = self._tick
        if serve:
            self.server = QueryServer(self.engine).start()
        return self

    def _tick(self, t: float) -> None:
        """After each scrape (the rules run on their own schedule): publish the status."""
        if t - self._last_status >= 1.0:
            self._last_status = t
            try:
                self.write_status(t)
            except Exception as err:  # the monitor must not stop the scraper
                log.warning("could not write SLO status: %r", err)
            self._warn_if_behind(t)

    def evaluation(self) -> dict:
        """Counts of the rule schedule since the start (and of scrape ticks skipped)."""
        body = self.engine.schedule.totals()
        scraper = self.engine.scraper
        body["scrape_ticks_missed"] = scraper.missed_ticks if scraper is not None else 0
        body["last_evaluation_at"] = self.engine.last_tick
        return body

    def _warn_if_behind(self, t: float) -> None:
        when, late, missed = self._warned
        if t - when < WARN_EVERY_S:
            return
        totals = self.engine.schedule.totals()
        if (totals["late"], totals["missed"]) != (late, missed):
            log.warning("rule evaluation fell behind: %d evaluations late and %d skipped in "
                        "the last %.0f s (%d late, %d skipped of %d scheduled since the "
                        "start, lag up to %.1f s): the machine is too busy, SLO figures and "
                        "alerts lag", totals["late"] - late, totals["missed"] - missed,
                        t - (when or self._started), totals["late"],
                        totals["missed"], totals["scheduled"], totals["max_lag_s"])
            self._warned = (t, totals["late"], totals["missed"])

    def write_status(self, t: float) -> None:
        from gameday.slo.status import attach_use, collect_status

        statuses = collect_status(self.engine)
        attach_use(statuses, self._budget_uses(statuses, t))
        body = {"updated_at": t, "rules": str(self.rules_dir) if self.rules_dir else None,
                "slos": [s.as_dict() for s in statuses],
                "evaluation": self.evaluation()}
        atomic_write(self.run.slo_status, json.dumps(body), durable=False)

    def _budget_uses(self, statuses, t: float) -> dict:
        """Budget consumed per SLO since the stack started (gameday.slo.consumption),
        counted every 5 s (the span grows with the run) and reused in between."""
        from gameday.slo.consumption import load_slos_for_rules, measure

        cached = getattr(self, "_uses", None)
        if cached is not None and t - cached[0] < 5.0:
            return cached[1]
        if getattr(self, "_models", None) is None:
            files = sorted(self.rules_dir.glob("*.rules.yml")) if self.rules_dir else []
            self._models = load_slos_for_rules(files)
        periods = {s.slo_id: s.period_days * 86400 for s in statuses
                   if s.period_days == s.period_days}
        models = [m for m in self._models if m.id in periods]
        uses = measure(self.engine, models, getattr(self, "_started", t), t, periods)
        self._uses = (t, uses)
        return uses

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.engine.stop()


def evaluation_warning(evaluation: dict | None) -> str | None:
    """One line for a learner when the embedded engine fell behind its rule schedule, from
    the ``evaluation`` part of slo-status.json; None when every evaluation ran on time."""
    if not evaluation:
        return None
    late, missed = evaluation.get("late", 0), evaluation.get("missed", 0)
    if not late and not missed:
        return None
    return (f"embedded engine: {late} of {evaluation.get('scheduled', 0)} rule evaluations "
            f"ran late (up to {evaluation.get('max_lag_s', 0):.1f} s after their time) and "
            f"{missed} were skipped: the machine was too busy, so SLO figures and alerts "
            f"lagged")


def evaluation_notes(run_path: Path) -> list[str]:
    """``evaluation_warning`` of a run's last published status, as a list (empty if none):
    what a drill prints at its end."""
    try:
        body = json.loads(Run(Path(run_path)).slo_status.read_text())
    except (OSError, ValueError):
        return []
    text = evaluation_warning(body.get("evaluation"))
    return [text] if text else []


def read_status(run_path: Path, max_age_s: float = 10.0) -> dict:
    """The live status a monitor published; raises NotFoundError when there is none."""
    from gameday.errors import NotFoundError

    path = Run(Path(run_path)).slo_status
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        raise NotFoundError(f"{path}: no SLO status yet (is the stack running and ready?)") \
            from None
    body["stale"] = time.time() - body.get("updated_at", 0) > max_age_s
    return body
