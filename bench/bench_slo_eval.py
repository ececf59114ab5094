"""Per-tick cost of evaluating every shipped SLO rule group in the embedded engine.

Issue 3's target: under 100 ms per tick over one hour of 1 s samples.

How: start the real stack once, send a little traffic, and take one real scrape of every
process (so the series and label sets are exactly what the services export). Then build one
hour of 1 s samples from it (counters, buckets, counts and sums grow linearly from their
scraped value, gauges stay) in the embedded store, load the generated rule files of a
catalog, and time rule evaluation ticks at the end of the hour. Reported beside the budget
as a ratio, for the drill catalog and the production catalog.

Run: .venv/bin/python bench/bench_slo_eval.py [--ticks 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gameday.metrics.exposition import Sample, fetch  # noqa: E402
from gameday.metrics.rules import evaluate_groups, load_rule_file  # noqa: E402
from gameday.metrics.store import SampleStore  # noqa: E402
from gameday.stack.local import Stack  # noqa: E402
from gameday.stack.spec import build_spec  # noqa: E402
from gameday.traffic import send_traffic  # noqa: E402

HOUR = 3600
BUDGET_MS = 100.0
GROWING = ("_total", "_count", "_sum", "_bucket")


def real_scrapes() -> list[tuple[str, str, list[Sample]]]:
    with tempfile.TemporaryDirectory() as tmp:
        with Stack(build_spec(free_ports=True), home=Path(tmp) / ".gameday") as stack:
            send_traffic(stack.url("gateway"), classify=100, generate=3,
                         labels_url=stack.url("features"))
            out = []
            for proc in stack.state().processes:
                samples, _ = fetch(proc.url)
                labelled = [Sample(s.name, tuple(sorted({**dict(s.labels),
                                                         "replica": str(proc.replica)}.items())),
                                   s.value) for s in samples]
                out.append((proc.name, proc.url.split("//")[1], labelled))
    return out


def fill_hour(scrapes, start: float) -> SampleStore:
    store = SampleStore(max_age=HOUR + 600)
    for i in range(HOUR):
        t = start + i
        for job, instance, samples in scrapes:
            grown = [Sample(s.name, s.labels, s.value * (i + 1) / HOUR
                            if s.name.endswith(GROWING) else s.value) for s in samples]
            store.ingest(grown, t, job, instance)
    return store


def time_ticks(store: SampleStore, catalog: str, start: float, ticks: int) -> list[float]:
    files = sorted((ROOT / "slos" / "_gen" / catalog).glob("*.rules.yml"))
    groups = [g for f in files for g in load_rule_file(f)]
    costs = []
    for k in range(ticks):
        t = start + HOUR - ticks + k
        for g in groups:
            g.last_eval = None  # every group due on every tick: the worst case
        t0 = time.perf_counter()
        evaluate_groups(groups, store, t)
        costs.append((time.perf_counter() - t0) * 1000)
    return costs, sum(len(g.rules) for g in groups), len(files)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=30)
    args = parser.parse_args()
    print("taking one real scrape of every process of the stack ...", flush=True)
    scrapes = real_scrapes()
    n_series = sum(len(s) for _, _, s in scrapes)
    start = 1_800_000_000.0
    t0 = time.perf_counter()
    store = fill_hour(scrapes, start)
    print(f"store: {n_series} series x {HOUR} samples, filled in "
          f"{time.perf_counter() - t0:.1f} s")
    for catalog in ("drill-12h", "google-30d"):
        costs, rules, files = time_ticks(store, catalog, start, args.ticks)
        med = statistics.median(costs)
        print(f"{catalog:>11}: {rules} rules in {files} files; per tick median {med:.1f} ms, "
              f"max {max(costs):.1f} ms; ratio to the {BUDGET_MS:.0f} ms budget "
              f"{med / BUDGET_MS:.2f}")


if __name__ == "__main__":
    main()
