"""The embedded engine's rule schedule: Prometheus's slots, catch-up, and the count of it all.

Time is a fake clock: every test says when "now" is.
"""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from gameday.engine.embedded import EmbeddedEngine
from gameday.engine.queryapi import QueryServer
from gameday.engine.schedule import EvaluationSchedule, GroupSlots, group_offset_ms, xxh64
from gameday.engine.store import load_series
from gameday.stack.monitor import evaluation_notes, evaluation_warning


def test_xxh64_matches_the_reference_vectors():
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"a") == 0xD24EC4F1A98C6E5B
    assert xxh64(b"abc") == 0x44BC2CF5AD770999
    assert xxh64(b"Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1


def test_each_group_gets_its_own_phase_within_the_interval():
    offsets = {group_offset_ms(f"g{i}", "/x/r.rules.yml", 1000) for i in range(50)}
    assert all(0 <= o < 1000 for o in offsets) and len(offsets) > 40
    assert group_offset_ms("g1", "/x/r.rules.yml", 1000) == \
        group_offset_ms("g1", "/x/r.rules.yml", 1000)
    assert group_offset_ms("g1", "/x/r.rules.yml", 1000) != \
        group_offset_ms("g1", "/y/r.rules.yml", 1000)


def one_group(offset_ms=250, interval_ms=1000, catch_up_s=30.0) -> EvaluationSchedule:
    return EvaluationSchedule([GroupSlots("f;g", interval_ms, offset_ms)], catch_up_s)


def test_slots_are_interval_aligned_plus_the_offset_and_start_after_now():
    sched = one_group()
    sched.start(100.9)
    assert sched.next_due() == 101.25
    assert sched.due(101.2) == []
    assert sched.due(101.25) == [(0, 101.25)]
    assert sched.due(101.9) == []
    assert sched.next_due() == 102.25


def test_a_stall_is_caught_up_at_the_scheduled_timestamps_and_counted_late():
    sched = one_group()
    sched.start(100.0)  # first slot 100.25
    for slot in [t for _, t in sched.due(100.3)]:
        sched.done(0, slot, started=100.3, finished=100.31)
    # the evaluator is stuck for 5 s: five slots came due meanwhile
    due = sched.due(105.6)
    assert due == [(0, 101.25), (0, 102.25), (0, 103.25), (0, 104.25), (0, 105.25)]
    for _, slot in due:
        sched.done(0, slot, started=105.6, finished=105.62)
    totals = sched.totals()
    assert totals["scheduled"] == totals["evaluated"] == 6
    assert totals["missed"] == 0
    # late: evaluated more than one interval after its slot (101.25 .. 104.25)
    assert totals["late"] == 4 and totals["max_lag_s"] == pytest.approx(4.35)


def test_slots_older_than_the_catch_up_limit_are_skipped_and_counted_missed():
    sched = one_group(offset_ms=0, catch_up_s=3.0)
    sched.start(99.5)  # first slot 100.0
    due = sched.due(110.0)  # slots 100 .. 110 came due; only the last 3 s are kept
    assert [t for _, t in due] == [107.0, 108.0, 109.0, 110.0]
    totals = sched.totals()
    assert totals["scheduled"] == 11 and totals["missed"] == 7
    for _, slot in due:
        sched.done(0, slot, 110.0, 110.01)
    totals = sched.totals()
    assert totals["scheduled"] == totals["evaluated"] + totals["missed"]
    assert sched.due(110.5) == [] and sched.next_due() == 111.0


def test_due_slots_of_several_groups_come_oldest_first():
    sched = EvaluationSchedule([GroupSlots("f;a", 1000, 700), GroupSlots("f;b", 2000, 100)])
    sched.start(100.0)
    assert sched.due(104.0) == [(1, 100.1), (0, 100.7), (0, 101.7), (1, 102.1), (0, 102.7),
                                (0, 103.7)]


def test_self_metrics_use_prometheus_names():
    sched = one_group()
    sched.start(100.0)
    sched.due(103.5)  # slots 100.25 .. 103.25
    text = sched.render_metrics()
    assert 'prometheus_rule_group_iterations_total{rule_group="f;g"} 4' in text
    assert 'prometheus_rule_group_iterations_missed_total{rule_group="f;g"} 0' in text
    assert "# TYPE gameday_rule_group_iterations_late_total counter" in text


RULES = {"groups": [
    {"name": "sli", "rules": [
        {"record": "job:errors:ratio_rate5s",
         "expr": 'sum by (job) (rate(reqs_total{code="500"}[5s])) '
                 '/ sum by (job) (rate(reqs_total[5s]))'}]},
    {"name": "meta", "rules": [
        {"record": "job:errors:double", "expr": "2 * job:errors:ratio_rate5s"}]},
]}


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def engine(tmp_path):
    rules = tmp_path / "r.rules.yml"
    rules.write_text(yaml.safe_dump(RULES))
    clock = FakeClock(1_000.0)
    engine = EmbeddedEngine([rules], clock=clock)
    # 1 s scrapes from t=990: 10 ok per second, 1 error per second
    load_series(engine.store, [('reqs_total{job="gw",code="200"}', "0+10x60"),
                               ('reqs_total{job="gw",code="500"}', "0+1x60")],
                step=1, start=990)
    return engine, clock, rules


def test_the_engine_evaluates_every_slot_at_its_timestamp_even_after_a_stall(engine):
    engine, clock, rules = engine
    engine.schedule.start(clock())
    offsets = [s.offset_ms for s in engine.schedule.slots]
    assert offsets == [group_offset_ms(g, str(rules.resolve()), 1000) for g in ("sli", "meta")]
    clock.t = 1_002.999
    assert engine.evaluate_due() == 6  # three slots of each group in (1000, 1003)
    clock.t = 1_012.999  # a 10 s stall: ten slots per group came due meanwhile
    assert engine.evaluate_due() == 20
    stamps = {}
    for name in ("job:errors:ratio_rate5s", "job:errors:double"):
        [(_, ring)] = list(engine.store.series([("__name__", "=", name)]))
        stamps[name] = [ts for ts, _ in ring]
        assert all(v == pytest.approx(1 / 11 * (2 if "double" in name else 1))
                   for _, v in ring)
    sli = [1_000_000 + offsets[0] + 1000 * k for k in range(13)]
    assert stamps["job:errors:ratio_rate5s"] == sli
    # the meta group reads the sli group's output: from its first slot after the first sli
    meta = [1_000_000 + offsets[1] + 1000 * k for k in range(13)]
    assert stamps["job:errors:double"] == [t for t in meta if t >= sli[0]]
    totals = engine.schedule.totals()
    assert totals["scheduled"] == totals["evaluated"] == 26 and totals["missed"] == 0
    assert totals["late"] >= 18  # the stalled ones; nothing was skipped
    assert engine.last_tick == pytest.approx(1_012 + max(offsets) / 1000)


def test_the_query_api_serves_the_schedule_counts(engine):
    engine, clock, _ = engine
    engine.schedule.start(clock())
    clock.t = 1_005.0
    engine.evaluate_due()
    server = QueryServer(engine).start()
    try:
        text = httpx.get(server.url + "/metrics").text
    finally:
        server.stop()
    assert "prometheus_rule_group_iterations_total{rule_group=" in text
    assert text.count("gameday_rule_group_iterations_evaluated_total{") == 2


def test_the_warning_a_learner_reads_and_the_drill_notes(tmp_path):
    assert evaluation_warning({"scheduled": 100, "evaluated": 100, "late": 0, "missed": 0}) \
        is None
    text = evaluation_warning({"scheduled": 300, "evaluated": 290, "late": 12, "missed": 10,
                               "max_lag_s": 2.26})
    assert text == ("embedded engine: 12 of 300 rule evaluations ran late (up to 2.3 s after "
                    "their time) and 10 were skipped: the machine was too busy, so SLO "
                    "figures and alerts lagged")
    assert evaluation_notes(tmp_path) == []
    (tmp_path / "slo-status.json").write_text(json.dumps(
        {"updated_at": 1.0, "slos": [], "evaluation": {"scheduled": 300, "late": 12,
                                                       "missed": 10, "max_lag_s": 2.26}}))
    assert evaluation_notes(tmp_path) == [text]


def test_the_monitor_logs_a_warning_when_evaluation_falls_behind(tmp_path, caplog):
    from gameday.stack.monitor import Monitor

    rules = tmp_path / "r.rules.yml"
    rules.write_text(yaml.safe_dump(RULES))
    monitor = Monitor(tmp_path, {}, tmp_path)
    sched = monitor.engine.schedule
    for slots in sched.slots:
        slots.offset_ms = 500
    sched.start(1_000.0)
    caplog.set_level("WARNING", logger="gameday.stack.monitor")
    for _, slot in sched.due(1_001.0):
        sched.done(0, slot, slot + 0.01, slot + 0.02)
    monitor._warn_if_behind(1_040.0)
    assert caplog.records == []  # on time: nothing to say
    for index, slot in sched.due(1_006.0):  # a 5 s stall, caught up
        sched.done(index, slot, 1_006.0, 1_006.1)
    monitor._warn_if_behind(1_080.0)
    [record] = caplog.records
    assert "rule evaluation fell behind: 8 evaluations late and 0 skipped" in record.message
    assert "the machine is too busy" in record.message
    monitor._warn_if_behind(1_090.0)  # at most one warning per 30 s
    assert len(caplog.records) == 1
    assert monitor.evaluation()["late"] == 8


def test_a_group_that_breaks_costs_only_its_own_slot(engine, monkeypatch):
    engine, clock, _ = engine
    engine.schedule.start(clock())

    def broken(store, t):
        raise RuntimeError("bug")

    monkeypatch.setattr(engine.groups[0], "evaluate", broken)
    clock.t = 1_002.999
    assert engine.evaluate_due() == 6
    totals = engine.schedule.totals()
    assert totals["evaluated"] == 6 and totals["failures"] == 3  # 3 slots x 1 rule
    assert list(engine.store.series([("__name__", "=", "job:errors:ratio_rate5s")])) == []
