"""Both engines on the live stack (`gameday up --prometheus`) store the same `slo:*` samples.

Steady traffic through the gateway (labelled canaries included), an error fault on the
classifier partway; then every `slo:*` recording-rule sample both engines stored is paired
on (labels, timestamp) and must agree within the tolerance `gameday.engine.agreement`
derives from scrape-time jitter. The embedded engine evaluates on Prometheus's own slots,
so the timestamps themselves must match.
"""

from __future__ import annotations

import math

import pytest

from tests.conftest import require_binary
from tests.engines_live import describe, run_live


@pytest.mark.slow
@pytest.mark.long  # make test-long (CI runs it); test_slo_engine_agreement is in make test
@pytest.mark.timeout(400)
def test_both_engines_store_the_same_slo_samples_at_the_same_timestamps(tmp_path):
    require_binary("prometheus")
    res = run_live(tmp_path, duration_s=90, fault_at_s=30, fault_s=30, probability=0.3)
    cmp = res["comparison"]
    table = describe(res)
    print("\n" + table)

    # the same evaluation timestamps: (almost) every sample of one engine has its pair
    assert len(cmp.points) > 1000, table
    assert cmp.only_a + cmp.only_b <= 0.02 * len(cmp.points), table
    families = cmp.families()
    assert set(families) == set(cmp.names), table  # every slo:* rule produced pairs

    # the comparison covered the fault, not only zeros
    availability = [p for p in cmp.points if p.name == "slo:sli_error:ratio_rate30s"
                    and dict(p.labels)["sloth_id"] == "gateway-gateway-availability"]
    assert max(max(p.a, p.b) for p in availability) > 0.02, table

    # before the fault, both engines read every availability SLO's error ratio as exactly 0
    # in every window (bad/total counters that exist at 0 from the start)
    fault_at = res["window"][0] - 10 + 30  # run_live: settle_s 10, fault_at_s 30
    quiet = [p for p in cmp.points if p.name.startswith("slo:sli_error:ratio_rate")
             and p.ts < fault_at - 1 and dict(p.labels)["sloth_id"] in
             ("gateway-gateway-availability", "features-features-availability")
             and not (math.isnan(p.a) or math.isnan(p.b))]
    assert quiet and all(p.a == 0.0 and p.b == 0.0 for p in quiet), [
        (p.name, dict(p.labels)["sloth_id"], p.a, p.b) for p in quiet if p.a or p.b][:10]

    outside = sorted(cmp.failures(), key=lambda p: -(p.diff - p.tol)
                     if not math.isnan(p.diff) else math.inf)
    assert outside == [], table + "\n" + "\n".join(
        f"{p.name} {dict(p.labels).get('sloth_id')} t={p.ts:.3f} prometheus={p.a} "
        f"embedded={p.b} tolerance={p.tol:.3g}" for p in outside[:20])

    # nothing skipped silently: the embedded count adds up, and it names what it skipped
    ev = res["evaluation"]
    assert ev["scheduled"] - ev["evaluated"] - ev["missed"] <= ev["groups"], ev
    assert res["embedded"]["prometheus_rule_group_iterations_missed_total"] >= ev["missed"]
    print(f"schedule: prometheus {res['prometheus']}, embedded {res['embedded']}")
