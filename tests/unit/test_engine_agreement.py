"""The pieces of the live engine comparison that need no live stack: raw stored points through
the query API, and the tolerance arithmetic."""

from __future__ import annotations

import math

import pytest

from gameday.engine.agreement import Comparison, Limits, Point, stored, windows
from gameday.engine.embedded import EmbeddedEngine
from gameday.engine.queryapi import QueryServer
from gameday.engine.store import load_series


def test_a_range_selector_answers_the_stored_points_as_prometheus_does():
    engine = EmbeddedEngine([])
    load_series(engine.store, [('slo:x{sloth_id="a"}', "1 2 3 4")], start=100)
    server = QueryServer(engine).start()
    try:
        got = stored(server.url, "slo:x", 103.5, 2.0)
    finally:
        server.stop()
    assert got == {(("__name__", "slo:x"), ("sloth_id", "a")): {102_000: 3.0, 103_000: 4.0}}
    assert engine.raw_samples("sum(slo:x)", 103) is None


def test_windows_come_from_sloth_names():
    assert windows(["slo:sli_error:ratio_rate5s", "slo:sli_error:ratio_rate72m",
                    "slo:objective:ratio"]) == {"slo:sli_error:ratio_rate5s": 5.0,
                                                "slo:sli_error:ratio_rate72m": 4320.0}


def test_ratio_tolerance_is_one_scrape_interval_at_each_edge():
    limits = Limits({"r5s": 5.0, "r1m": 60.0}, d=1.0, traffic_start=0.0,
                    r_edge={"slo": 0.5})
    # 1 m window, ratio 0.2: edges hold at most 0.5 x 1/60 of errors, plus 0.2 x 1/60 of events
    assert limits.ratio("r1m", 300.0, 0.2, "slo") == pytest.approx(3 * (0.5 / 60 + 0.2 / 60))
    # a small ratio: at most all of the window's errors can move
    assert limits.ratio("r1m", 300.0, 0.001, "slo") == pytest.approx(3 * (0.001 + 0.001 / 60))
    # 20 s into the traffic, a 1 m window holds 20 s of it
    assert limits.ratio("r1m", 20.0, 0.2, "slo") == pytest.approx(3 * (0.5 / 20 + 0.2 / 20))


def test_points_and_families():
    cmp = Comparison([Point("n", (), 1.0, 0.10, 0.11, 0.02), Point("n", (), 2.0, 0.2, 0.3, 0.05),
                      Point("n", (), 3.0, math.nan, math.nan, 0.0),
                      Point("n", (), 4.0, 0.1, math.nan, 1.0)])
    assert [p.ok for p in cmp.points] == [True, False, True, False]
    fam = cmp.families()["n"]
    assert fam["points"] == 4 and fam["outside"] == 2
    assert fam["worst_abs"] == pytest.approx(0.1) and fam["worst_rel"] == pytest.approx(1 / 3)
