"""A backtest of a shipped long recording holds the values of promtool's backfill.

The shipped quiet baseline (two hours at 15 s) goes through promtool's backfill of the
generated google-30d recording rules (OpenMetrics export, blocks, a Prometheus on them,
``promtool tsdb create-blocks-from rules`` level by level: gameday.prometheus.backfill),
and through ``run_backtest`` with each rule group at the offset the backfill used (and the
instants promtool skips at its block ends skipped too: ``in_backfill_gap``). Every
recording rule's points near 20 sampled times must be on both sides and equal within the
live agreement test's relative tolerance (1e-9).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday import resources
from gameday.engine.store import SampleStore
from gameday.prometheus.backfill import (
    backfill,
    compare,
    group_offsets,
    in_backfill_gap,
    sampled_points,
)
from gameday.slo.backtest import run_backtest
from gameday.slo.replay import RecordingStream
from gameday.slo.validate import collect_slos
from gameday.slo.windows import load_catalog
from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
REL_TOL = 1e-9  # tests/integration/test_slo_engine_agreement.py


def _span(path: Path) -> tuple[float, float]:
    stream = RecordingStream(path)
    times = [t for t, *_ in stream.scrapes()]
    stream.close()
    return times[0], times[-1]


@pytest.mark.slow
@pytest.mark.needs_binary
def test_backtest_values_equal_promtools_backfill(tmp_path):
    require_binary("prometheus")
    require_binary("promtool")
    recording = resources.find_recording("quiet-baseline")
    first, last = _span(recording)
    assert last - first >= 3600, "the shipped quiet baseline is at least an hour long"
    rule_files = sorted((ROOT / "slos" / "_gen" / "google-30d").glob("*.rules.yml"))
    bf = backfill(recording, rule_files, tmp_path / "promtool", first, last, "15s")
    try:
        assert bf.levels >= 2  # slo:sli_error:ratio_rate30d reads ..._rate5m
        offsets = group_offsets(bf.server, rule_files, last, 15.0)
        slos, errors = collect_slos([ROOT / "slos"])
        assert not errors
        catalog = load_catalog(ROOT / "slos" / "windows", "google-30d")
        store = SampleStore(max_age=catalog.period_s + 60, max_points=100_000)
        result = run_backtest(recording, slos, catalog, eval_interval=15.0, offsets=offsets,
                              store=store, skip=in_backfill_gap)
        assert result.ticks >= (last - first) / 15 - 24
        times = [first + (last - first) * (i + 1) / 21 for i in range(20)]
        points = sampled_points(bf.server, times, "15s")
        found = compare(store, points, times, 15.0, REL_TOL)
    finally:
        bf.server.stop_step("prometheus")
    names = {dict(labels)["__name__"] for labels, _ in points}
    assert {"slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate3d",
            "slo:sli_error:ratio_rate30d", "slo:period_error_budget_remaining:ratio"} <= names
    assert found["compared"] >= 20 * len(names), found
    assert found["mismatches"] == [], found["mismatches"]
    assert found["equal"] == found["compared"]
    assert found["only_backfill"] == 0 and found["only_backtest"] == 0
