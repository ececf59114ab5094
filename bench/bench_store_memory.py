"""Bytes per sample of the embedded sample store, the list store before it beside it.

Issue 18, item 1: at most 16 bytes a sample on real stack data, at most 4 on regular series
with repeated or slowly changing values, with rule evaluation no more than ~20% slower.

What it measures, old store (the two-list ``Ring`` of commit e919e60, loaded from git) and
new store side by side in one process:

1. Real stack data: a recording of the live stack (``gameday.engine.recording``) made here
   (the local stack, a steady trickle of classify/generate traffic on loopback, scraped each
   second) or given with ``--recording``, replayed into each store. Memory is the deep size
   of the store (every object reachable from it, by ``sys.getsizeof``, each once: label
   sets, dicts, lists and their numbers, chunks, arrays), plus the decoded-chunk cache's,
   divided by the samples it holds. Also with the drill-12h rules evaluated every second
   during the replay (as live), so the store holds their outputs too.
2. Synthetic regular series (1 s interval): constant gauges, counters rising by 0-5 a
   second, decimals rising slowly (cpu seconds), noisy floats.
3. bench_slo_eval's workload: every scraped series of the recording's last scrape, one hour
   of 1 s samples (``fill_hour``), rule evaluation ticks of the drill-12h and google-30d
   catalogs (all groups due), old and new store ticks interleaved in rounds; plus the cost
   of ingesting one scrape of every target.

Run: .venv/bin/python bench/bench_store_memory.py [--quick] [--minutes 10]
     [--recording path/to/recording.jsonl.gz]
``--quick`` records 30 s and uses 5 minutes of history: a smoke run (under a minute), whose
bytes per sample are not representative (few chunks are sealed in 30 s).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FunctionType, ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_slo_eval as slo_eval  # noqa: E402
import benchlib as bl  # noqa: E402

from gameday.engine import store as new_store  # noqa: E402
from gameday.engine.chunks import CACHE  # noqa: E402

OLD_COMMIT = "e919e609b2fe80cdbd3e9868070d20dcfdaa8a38"  # the list store's last version
# Since the window indexes (engine/windowstats.py) the evaluator reads what only the compact
# ring keeps (stale markers and counter resets by index), so rules run on the new store only;
# the old-vs-new rule ticks (0.55x drill-12h, 0.41x google-30d, all 84 answers bit-for-bit
# equal) were measured before that, and are kept in bench/README.md.
EVALUATED_OLD = False
START = 1_800_000_000.0


def old_store_module():
    """The list store as it was before the compact one, imported from git."""
    text = subprocess.run(["git", "show", f"{OLD_COMMIT}:src/gameday/metrics/store.py"],
                          cwd=ROOT, check=True, capture_output=True, text=True).stdout
    text = text.replace("gameday.metrics.", "gameday.engine.")  # the package's name since
    path = Path(tempfile.mkdtemp()) / "list_store.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("list_store", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- a recording of the live stack ----------------------------------------------------------
def record_stack(path: Path, seconds: float) -> Path:
    from gameday.engine.recording import RecordingWriter
    from gameday.engine.scraper import Scraper, targets_from_urls
    from gameday.stack.local import Stack
    from gameday.stack.spec import build_spec
    from gameday.traffic import send_traffic

    with tempfile.TemporaryDirectory() as tmp:
        with Stack(build_spec(free_ports=True), home=Path(tmp) / ".gameday") as stack:
            urls: dict[str, list[str]] = {}
            for proc in sorted(stack.state().processes, key=lambda p: (p.name, p.replica)):
                urls.setdefault(proc.name, []).append(proc.url)
            scraper = Scraper(targets_from_urls(urls), new_store.SampleStore(),
                              recording=RecordingWriter(path, time.time(), 1.0))
            stop = threading.Event()

            def traffic() -> None:
                while not stop.is_set():
                    send_traffic(stack.url("gateway"), classify=10, generate=1, concurrency=2,
                                 labels_url=stack.url("features"))
                    stop.wait(0.5)

            loader = threading.Thread(target=traffic, daemon=True)
            scraper.start()
            loader.start()
            time.sleep(seconds)
            stop.set()
            scraper.stop()
            loader.join(30)
    return path


def last_scrapes(path: Path) -> list:
    """The recording's last successful scrape of each target: (job, instance, samples)."""
    from gameday.engine.recording import read_recording

    _, scrapes = read_recording(path)
    last = {}
    for s in scrapes:
        if s.samples is not None:
            last[(s.job, s.instance)] = (s.job, s.instance, s.samples)
    return list(last.values())


# -- memory ---------------------------------------------------------------------------------
def deep_size(root) -> int:
    """Bytes of every object reachable from ``root`` (``sys.getsizeof``: capacity of lists,
    dicts and arrays included), each counted once; classes and modules not followed."""
    seen, stack, total = set(), [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, ModuleType, FunctionType)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def measured(build) -> tuple[object, int, float]:
    """(the store ``build()`` returns, its deep size in bytes plus the decoded-chunk cache's,
    seconds it took)."""
    CACHE.clear()
    t0 = time.perf_counter()
    store = build()
    took = time.perf_counter() - t0
    return store, deep_size(store) + deep_size(CACHE), took


def samples_in(store) -> int:
    return sum(len(ring) for _, ring in store.series([]))


def sealed_payload(store) -> tuple[int, int, int]:
    """(points in sealed chunks, bytes of their time payloads, of their value payloads);
    a time payload shared by several chunks counted once."""
    points, times, values, seen = 0, 0, 0, set()
    for _, ring in store.series([]):
        for chunk in getattr(ring, "sealed", []):
            points += chunk.n
            values += len(chunk.vdata) if isinstance(chunk.vdata, bytes) else 8
            if isinstance(chunk.tdata, bytes) and id(chunk.tdata) not in seen:
                seen.add(id(chunk.tdata))
                times += len(chunk.tdata)
    return points, times, values


def replay_into(module, recording: Path, rules: bool):
    from gameday.engine.recording import ingest_scrape, read_recording, replay
    from gameday.engine.ruleeval import evaluate_groups, load_rule_file

    files = sorted((ROOT / "slos" / "_gen" / "drill-12h").glob("*.rules.yml")) if rules else []
    groups = [g for f in files for g in load_rule_file(f, 1.0)]  # every 1 s, as live

    def build():
        store = module.SampleStore(max_age=24 * 3600.0, max_points=10 ** 7)
        if not rules:
            replay(recording, store)
            return store
        _, scrapes = read_recording(recording)
        prev = None
        for s in scrapes:  # one scrape of every target per tick, all at the same t
            if prev is not None and s.t != prev:
                evaluate_groups(groups, store, prev)
            ingest_scrape(store, s)
            prev = s.t
        return store

    return build


def synthetic(module, kind: str, n_series: int, seconds: int):
    rng = np.random.default_rng(18)

    def build():
        store = module.SampleStore(max_age=seconds + 600.0, max_points=10 ** 7)
        for k in range(n_series):
            key = module.make_labels({"__name__": f"synthetic_{kind}", "k": str(k)})
            if kind == "constant gauge":
                values = np.full(seconds, float(k % 5))
            elif kind == "counter +0..5/s":
                values = np.cumsum(rng.integers(0, 6, seconds)).astype(float)
            elif kind == "cpu seconds +0.00..0.03/s":
                values = np.cumsum(rng.integers(0, 4, seconds)) / 100
            else:
                values = rng.normal(0.5, 0.1, seconds)
            for i, v in enumerate(values.tolist()):
                store.append(key, START + i, v)
        return store

    return build


def memory_rows(old, cases) -> tuple[list[list], list[dict]]:
    """``cases``: (name, make, old_too); without old_too only the new store is built (the
    rules need what only the compact ring has, see EVALUATED_OLD)."""
    rows, data = [], []
    for name, make, old_too in cases:
        per = {}
        for label, module in ((("old", old),) if old_too else ()) + (("new", new_store),):
            store, nbytes, took = measured(make(module))
            n = samples_in(store)
            per[label] = {"bytes": nbytes, "samples": n, "bytes_per_sample": nbytes / n,
                          "series": len(store), "build_s": took}
            if label == "new":
                points, times, values = sealed_payload(store)
                per[label]["sealed_points"] = points
                per[label]["sealed_time_bytes_per_sample"] = times / points if points else 0.0
                per[label]["sealed_value_bytes_per_sample"] = values / points if points else 0.0
            del store
            CACHE.clear()
        o, w = per.get("old"), per["new"]
        rows.append([name, w["series"], w["samples"], o["bytes_per_sample"] if o else "-",
                     f"{w['bytes_per_sample']:.2f}", bl.pct(w["sealed_points"] / w["samples"], 0),
                     f"{w['sealed_time_bytes_per_sample']:.3f} + "
                     f"{w['sealed_value_bytes_per_sample']:.2f}",
                     o["bytes_per_sample"] / w["bytes_per_sample"] if o else "-"])
        data.append({"case": name, **{f"{k}_{x}": v for k, d in per.items()
                                       for x, v in d.items()}})
        print(f"  {name}: old {o['bytes_per_sample']:.1f} B/sample, " if o else
              f"  {name}: old not evaluated (EVALUATED_OLD), ", end="")
        print(f"new {w['bytes_per_sample']:.2f} B/sample", flush=True)
    return rows, data


# -- evaluation ticks -----------------------------------------------------------------------
def tick_rows(old, scrapes, seconds: int, ticks: int, rounds: int) -> tuple[list, dict]:
    """Rule ticks on the new store (the old one cannot be evaluated any more, see
    EVALUATED_OLD); ingest on both."""
    stores = {}
    for label, module in (("old", old), ("new", new_store)):
        slo_eval.SampleStore = module.SampleStore
        slo_eval.make_labels = module.make_labels
        t0 = time.perf_counter()
        stores[label] = slo_eval.fill_hour(scrapes, START, seconds)
        print(f"  {label} store filled ({len(stores[label])} series x {seconds} s) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    rows, data = [], {}
    for catalog in ("drill-12h", "google-30d"):
        costs = []
        for _ in range(rounds):
            got, _, _ = slo_eval.time_ticks(stores["new"], catalog, START, ticks,
                                            seconds=seconds)
            costs += got
        w = statistics.median(costs)
        rows.append([catalog, len(costs), "-", w, "-"])
        data[catalog] = {"new_median_ms": w, "ticks_each": len(costs)}
        print(f"  {catalog}: tick median new {w:.1f} ms (old: not evaluated, EVALUATED_OLD)",
              flush=True)
    ingest = {"old": [], "new": []}
    for r in range(rounds):
        for label in ("old", "new") if r % 2 == 0 else ("new", "old"):
            ingest[label].append(slo_eval.ingest_ms(stores[label], scrapes,
                                                    START + seconds + 10 * r, 10))
    ingest = {label: statistics.median(costs) for label, costs in ingest.items()}
    rows.append(["ingest one scrape of every target", 10 * rounds, ingest["old"], ingest["new"],
                 ingest["new"] / ingest["old"]])
    data["ingest_ms"] = ingest
    data["decoded_cache_points"] = CACHE.points
    return rows, data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="30 s recording, 5 min history")
    parser.add_argument("--minutes", type=float, default=10.0, help="recording length")
    parser.add_argument("--recording", type=Path, help="use this recording, record none")
    parser.add_argument("--ticks", type=int, default=10, help="ticks per round")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    seconds, n_synth = (300, 50) if args.quick else (slo_eval.HOUR, 200)
    if args.quick:
        args.minutes, args.ticks, args.rounds = 0.5, 3, 2
    old = old_store_module()
    recording = args.recording
    if recording is None:
        recording = ROOT / ".gameday" / "bench" / "store_memory.recording.jsonl.gz"
        print(f"recording the live stack for {args.minutes:g} min into {recording} ...",
              flush=True)
        record_stack(recording, args.minutes * 60)
    print(f"memory (deep size of the store and the decoded-chunk cache) from {recording}:",
          flush=True)
    kinds = ["constant gauge", "counter +0..5/s", "cpu seconds +0.00..0.03/s", "noisy floats"]
    cases = [("real stack, scraped series", lambda m: replay_into(m, recording, False), True),
             ("real stack + drill-12h rule outputs", lambda m: replay_into(m, recording, True),
              False),
             *[(f"synthetic: {k}", lambda m, k=k: synthetic(m, k, n_synth, seconds), True)
               for k in kinds]]
    rows, memory = memory_rows(old, cases)
    print(bl.markdown_table(["data", "series", "samples", "old B/sample", "new B/sample",
                             "new: share sealed", "new: sealed times + values B/sample",
                             "old / new"], rows))
    print(f"rule evaluation on bench_slo_eval's workload ({seconds} s of 1 s samples):",
          flush=True)
    trows, ticks = tick_rows(old, last_scrapes(recording), seconds, args.ticks, args.rounds)
    print(bl.markdown_table(["workload", "ticks each", "old median ms", "new median ms",
                             "new / old"], trows))
    print(f"decoded-chunk cache after the ticks: {ticks['decoded_cache_points']} points "
          f"(bound {CACHE.max_points})")
    if not args.quick:
        bl.save_json("store_memory.json", {"recording": str(recording), "memory": memory,
                                           "ticks": ticks, "history_s": seconds})


if __name__ == "__main__":
    main()
