"""Per-tick cost of evaluating every shipped SLO rule group in the embedded engine.

Issue 3's target: under 100 ms per tick over one hour of 1 s samples.

How: start the real stack once, send a little traffic, and take one real scrape of every
process (so the series and label sets are exactly what the services export). Then build one
hour of 1 s samples from it (counters, buckets, counts and sums grow linearly from their
scraped value, gauges stay) in the embedded store, load the generated rule files of a
catalog, and time rule evaluation ticks at the end of the hour. Reported beside the budget
as a ratio, for the drill catalog and the production catalog.

Issue 7, target 5 adds the growth curve: per-tick cost and memory as the number of series
(every process's scrape repeated as 1, 2, 4, 8 instances: more replicas) and the number of
SLOs (every shipped SLO's rules repeated as 1, 2, 4, 8 copies, each under its own sloth_id)
grow, each point in a fresh process so its memory (RSS after filling the store, and after
the ticks) is its own. Table on stdout, JSON and a PNG chart in bench/results/.

Run: .venv/bin/python bench/bench_slo_eval.py [--quick] [--ticks 30] [--factors 1,2,4,8]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl  # noqa: E402

from gameday.engine.exposition import Sample, fetch  # noqa: E402
from gameday.engine.ruleeval import evaluate_groups, load_rule_file  # noqa: E402
from gameday.engine.store import SampleStore, make_labels  # noqa: E402
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


def fill_hour(scrapes, start: float, seconds: int = HOUR) -> SampleStore:
    """``seconds`` of 1 s samples of every scraped series. The first and last scrapes go
    through ``ingest`` (the scraper's path); the ones between append with label keys built
    once, the same points an hour of ``ingest`` leaves, several times faster to build."""
    store = SampleStore(max_age=seconds + 600)
    keyed = []
    for job, instance, samples in scrapes:
        extra = [("job", job), ("instance", instance)]
        keyed.append([(make_labels([*s.labels, ("__name__", s.name), *extra]), s.value,
                       s.name.endswith(GROWING)) for s in samples])

    def scrape(i: int):
        return [[Sample(s.name, s.labels, s.value * (i + 1) / seconds
                        if s.name.endswith(GROWING) else s.value) for s in samples]
                for _, _, samples in scrapes]

    for (job, instance, _), grown in zip(scrapes, scrape(0), strict=True):
        store.ingest(grown, start, job, instance)
    for i in range(1, seconds - 1):
        t, share = start + i, (i + 1) / seconds
        for series in keyed:
            for key, value, growing in series:
                store.append(key, t, value * share if growing else value)
    for (job, instance, _), grown in zip(scrapes, scrape(seconds - 1), strict=True):
        store.ingest(grown, start + seconds - 1, job, instance)
    return store


def ingest_ms(store: SampleStore, scrapes, t: float, n: int = 5) -> float:
    """Median cost of ingesting one scrape of every target (what the scraper does each s)."""
    costs = []
    for k in range(n):
        t0 = time.perf_counter()
        for job, instance, samples in scrapes:
            store.ingest(samples, t + k, job, instance)
        costs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(costs)


def replicate_scrapes(scrapes, factor: int):
    """Every target ``factor`` times, as more replicas: new instance and replica labels."""
    out = []
    for k in range(factor):
        for job, instance, samples in scrapes:
            if k == 0:
                out.append((job, instance, samples))
                continue
            relabelled = []
            for s in samples:
                labels = dict(s.labels)
                labels["replica"] = f"{labels.get('replica', '0')}x{k}"
                relabelled.append(Sample(s.name, tuple(sorted(labels.items())), s.value))
            out.append((job, f"{instance}#{k}", relabelled))
    return out


SLOTH_ID = re.compile(r"(sloth_id[:=]\s*\"?)([A-Za-z0-9_.-]+)")


def copy_rules(text: str, k: int) -> str:
    """Rule file text for the k-th copy of its SLOs: every sloth_id (labels, selectors) and
    group name gets a suffix, so the copy records and alerts on series of its own."""
    if k == 0:
        return text
    text = SLOTH_ID.sub(lambda m: f"{m.group(1)}{m.group(2)}-copy{k}", text)
    return re.sub(r"^(- name: )(.+)$", lambda m: f"{m.group(1)}{m.group(2)}-copy{k}", text,
                  flags=re.M)


def load_groups(catalog: str, copies: int = 1) -> list:
    files = sorted((ROOT / "slos" / "_gen" / catalog).glob("*.rules.yml"))
    groups = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(copies):
            for f in files:
                path = Path(tmp) / f"{f.stem}-{k}.yml"
                path.write_text(copy_rules(f.read_text(), k))
                groups += load_rule_file(path)
    return groups


def time_ticks(store: SampleStore, catalog: str, start: float, ticks: int,
               copies: int = 1, seconds: int = HOUR) -> list[float]:
    files = sorted((ROOT / "slos" / "_gen" / catalog).glob("*.rules.yml"))
    groups = load_groups(catalog, copies)
    costs = []
    for k in range(ticks):
        t = start + seconds - ticks + k
        for g in groups:
            g.last_eval = None  # every group due on every tick: the worst case
        t0 = time.perf_counter()
        evaluate_groups(groups, store, t)
        costs.append((time.perf_counter() - t0) * 1000)
    return costs, sum(len(g.rules) for g in groups), len(files) * copies


# -- the growth curve ---------------------------------------------------------------------

def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def measure_point(scrapes, series_factor: int, slo_copies: int, catalog: str, ticks: int,
                  seconds: int) -> dict:
    """One point of the curve, in this process: fill, then time ticks; memory by RSS."""
    import gc

    start = 1_800_000_000.0
    scaled = replicate_scrapes(scrapes, series_factor)
    gc.collect()
    before = rss_mib()
    t0 = time.perf_counter()
    store = fill_hour(scaled, start, seconds)
    fill_s = time.perf_counter() - t0
    gc.collect()
    filled = rss_mib()
    costs, rules, _ = time_ticks(store, catalog, start, ticks, slo_copies, seconds)
    scrape_ms = ingest_ms(store, scaled, start + seconds)
    return {"series_factor": series_factor, "slo_copies": slo_copies, "catalog": catalog,
            "series": len(store), "rules": rules, "history_s": seconds,
            "tick_median_ms": statistics.median(costs), "tick_max_ms": max(costs),
            "ingest_ms_per_s": scrape_ms, "fill_s": fill_s,
            "store_mib": filled - before, "rss_after_ticks_mib": rss_mib()}


def point_in_subprocess(scrape_file: Path, series_factor: int, slo_copies: int, catalog: str,
                        ticks: int, seconds: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--point", str(scrape_file),
                          "--series-factor", str(series_factor), "--slo-copies",
                          str(slo_copies), "--catalog", catalog, "--ticks", str(ticks),
                          "--history", str(seconds)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def dump_scrapes(scrapes) -> list:
    return [[job, inst, [[s.name, list(map(list, s.labels)), s.value] for s in samples]]
            for job, inst, samples in scrapes]


def load_scrapes(data: list) -> list:
    return [(job, inst, [Sample(n, tuple(tuple(x) for x in labels), v)
                         for n, labels, v in samples]) for job, inst, samples in data]


def curve_table(points: list[dict]) -> str:
    rows = [[f"{p['series_factor']}x series, {p['slo_copies']}x SLOs", p["series"], p["rules"],
             p["tick_median_ms"], p["tick_max_ms"], p["ingest_ms_per_s"], p["store_mib"],
             p["rss_after_ticks_mib"]] for p in points]
    return bl.markdown_table(["point", "series", "rules", "tick median ms", "tick max ms",
                              "ingest ms per 1 s scrape", "store MiB", "process RSS MiB"],
                             rows)


def growth(points: list[dict], key: str, axis: str) -> list[tuple[int, float]]:
    """(factor, value) along one axis: points where the other factor is 1."""
    other = "slo_copies" if axis == "series_factor" else "series_factor"
    return sorted((p[axis], p[key]) for p in points if p[other] == 1)


def chart(points: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, label in (("series_factor", "series x k"), ("slo_copies", "SLOs x k")):
        xs, ys = zip(*growth(points, "tick_median_ms", axis), strict=True)
        a.plot(xs, ys, marker="o", label=label)
        xs, ys = zip(*growth(points, "rss_after_ticks_mib", axis), strict=True)
        b.plot(xs, ys, marker="o", label=label)
    a.axhline(BUDGET_MS, color="red", linestyle="--", label="100 ms budget")
    a.set(xlabel="k", ylabel="ms per tick (median)", title="Rule evaluation per tick")
    b.set(xlabel="k", ylabel="MiB", title="Process RSS (store + rules)")
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"Embedded SLO engine, {points[0]['catalog']}, "
                 f"{points[0]['history_s']} s of 1 s samples")
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_curve(scrapes, factors: list[int], catalog: str, ticks: int, seconds: int) -> list:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(dump_scrapes(scrapes), f)
        scrape_file = Path(f.name)
    points = []
    try:
        plan = [(k, 1) for k in factors] + [(1, k) for k in factors if k != 1]
        for series_factor, copies in plan:
            p = point_in_subprocess(scrape_file, series_factor, copies, catalog, ticks, seconds)
            print(f"  {series_factor}x series, {copies}x SLOs: {p['series']} series, "
                  f"{p['rules']} rules, tick {p['tick_median_ms']:.1f} ms, store "
                  f"{p['store_mib']:.0f} MiB", flush=True)
            points.append(p)
    finally:
        scrape_file.unlink()
    return points


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true",
                        help="5 minutes of history, 3 ticks, factors 1,2 (a smoke run)")
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--factors", default="1,2,4,8")
    parser.add_argument("--curve-ticks", type=int, default=10)
    parser.add_argument("--catalog", default="drill-12h", help="catalog of the curve")
    parser.add_argument("--point", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--series-factor", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--slo-copies", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--history", type=int, default=HOUR, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point:
        scrapes = load_scrapes(json.loads(args.point.read_text()))
        print(json.dumps(measure_point(scrapes, args.series_factor, args.slo_copies,
                                       args.catalog, args.ticks, args.history)))
        return
    seconds = 300 if args.quick else HOUR
    if args.quick:
        args.ticks, args.curve_ticks, args.factors = 3, 3, "1,2"
    print("taking one real scrape of every process of the stack ...", flush=True)
    scrapes = real_scrapes()
    n_series = sum(len(s) for _, _, s in scrapes)
    start = 1_800_000_000.0
    t0 = time.perf_counter()
    store = fill_hour(scrapes, start, seconds)
    print(f"store: {n_series} series x {seconds} samples, filled in "
          f"{time.perf_counter() - t0:.1f} s")
    base = {}
    for catalog in ("drill-12h", "google-30d"):
        costs, rules, files = time_ticks(store, catalog, start, args.ticks, seconds=seconds)
        med = statistics.median(costs)
        base[catalog] = {"rules": rules, "median_ms": med, "max_ms": max(costs)}
        print(f"{catalog:>11}: {rules} rules in {files} files; per tick median {med:.1f} ms, "
              f"max {max(costs):.1f} ms; ratio to the {BUDGET_MS:.0f} ms budget "
              f"{med / BUDGET_MS:.2f}")
    del store
    factors = [int(x) for x in args.factors.split(",")]
    print(f"growth curve ({args.catalog}, each point in its own process):", flush=True)
    points = run_curve(scrapes, factors, args.catalog, args.curve_ticks, seconds)
    print(curve_table(points))
    if not args.quick:
        png = chart(points, bl.RESULTS / "slo_eval_curve.png")
        bl.save_json("slo_eval.json", {"base": base, "curve": points})
        print(f"chart: {png.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
