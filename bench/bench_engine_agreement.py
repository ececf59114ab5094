"""How far apart are the two engines on the live stack? (issue 14, item 5)

One `gameday up --detach --free-ports --prometheus` (supervisor, embedded engine and
Prometheus in their own processes), steady traffic through the gateway with labelled
canaries, an error fault (HTTP 500 at p=0.3) on every classifier replica for the middle
fifth of the run; then every `slo:*` sample both engines stored is paired on (labels,
timestamp) (tests/engines_live.py, gameday/engine/agreement.py). Printed per recording
rule: median and worst absolute and relative difference, the largest tolerance the test
allows and how many pairs fell outside it; and each engine's own count of rule-group
iterations scheduled, missed (skipped), failed and, embedded, late (caught up).

Relative differences are over pairs where either value is non-zero (both zero: identical).

Full: 5 minutes of traffic, fault from 2 to 3 min. --quick: 60 s, fault from 24 to 36 s.
Prints SKIPPED and exits 0 without a `prometheus` binary.

Run: .venv/bin/python bench/bench_engine_agreement.py [--quick] [--duration 300]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402


def families(points) -> dict[str, dict]:
    """Per recording rule, over the pairs where either engine is non-zero (and finite)."""
    out: dict[str, dict] = {}
    for name in sorted({p.name for p in points}):
        pts = [p for p in points if p.name == name]
        moving = [p for p in pts if not (math.isnan(p.a) or math.isnan(p.b))
                  and (p.a != 0 or p.b != 0)]
        diffs = [p.diff for p in moving]
        rels = [p.rel for p in moving]
        out[name] = {"pairs": len(pts), "nonzero": len(moving),
                     "median_abs": statistics.median(diffs) if diffs else 0.0,
                     "worst_abs": max(diffs, default=0.0),
                     "median_rel": statistics.median(rels) if rels else 0.0,
                     "worst_rel": max(rels, default=0.0),
                     "max_tol": max((p.tol for p in pts), default=0.0),
                     "closest": max((p.share for p in moving), default=0.0),
                     "outside": sum(not p.ok for p in pts)}
    return out


def report(res: dict) -> str:
    rows = [[name.removeprefix("slo:"), f["pairs"], f["nonzero"], f"{f['median_abs']:.2g}",
             f"{f['worst_abs']:.2g}", bl.pct(f["median_rel"]), bl.pct(f["worst_rel"]),
             f"{f['max_tol']:.2g}", f["outside"]]
            for name, f in res["families"].items()]
    table = bl.markdown_table(["slo:* rule", "pairs", "non-zero", "median abs", "worst abs",
                               "median rel", "worst rel", "max tolerance", "outside"], rows)
    p, e, ev = res["prometheus"], res["embedded"], res["evaluation"]
    closest = max(res["families"].items(), key=lambda kv: kv[1].get("closest", 0.0))
    lines = [table, "",
             f"closest to its tolerance: {closest[0]} used {closest[1].get('closest', 0):.0%} "
             f"of it",
             f"pairs at the same timestamp: {res['pairs']}; stored by one engine only: "
             f"prometheus {res['only_prometheus']}, embedded {res['only_embedded']}",
             f"prometheus: {p['prometheus_rule_group_iterations_total']:.0f} iterations, "
             f"{p['prometheus_rule_group_iterations_missed_total']:.0f} missed, "
             f"{p['prometheus_rule_evaluation_failures_total']:.0f} rule evaluation failures",
             f"embedded:   {e['prometheus_rule_group_iterations_total']:.0f} iterations, "
             f"{e['prometheus_rule_group_iterations_missed_total']:.0f} missed, "
             f"{e['gameday_rule_group_iterations_late_total']:.0f} late (caught up), "
             f"{e['prometheus_rule_evaluation_failures_total']:.0f} failures; max lag "
             f"{ev.get('max_lag_s', 0):.2f} s, scrape ticks missed "
             f"{ev.get('scrape_ticks_missed', 0)}",
             f"traffic: {res['requests']} requests in {res['duration_s']:.0f} s; compared "
             f"{res['window_s']:.0f} s; comparison took {res['compare_s']:.1f} s"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="60 s of traffic")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of traffic")
    args = parser.parse_args()
    if shutil.which("prometheus") is None:
        print("SKIPPED bench_engine_agreement: prometheus is not installed "
              "(Debian: apt-get install prometheus)")
        return 0
    from tests.engines_live import run_live

    duration = 60.0 if args.quick else args.duration
    with tempfile.TemporaryDirectory() as tmp:
        live = run_live(Path(tmp), duration_s=duration, fault_at_s=duration * 0.4,
                        fault_s=duration * 0.2)
    cmp = live["comparison"]
    start, end = live["window"]
    res = {"duration_s": duration, "window_s": end - start, "requests": live["requests"],
           "compare_s": live["compare_s"], "pairs": len(cmp.points),
           "only_prometheus": cmp.only_a, "only_embedded": cmp.only_b,
           "families": families(cmp.points), "prometheus": live["prometheus"],
           "embedded": live["embedded"], "evaluation": live["evaluation"]}
    print(report(res))
    if not args.quick:
        print(f"results: {bl.save_json('engine_agreement.json', res)}")
    return 1 if any(f["outside"] for f in res["families"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
