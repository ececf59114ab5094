"""Dynamic batching: classifier throughput and p99 at 64 concurrent clients, batch 1 vs default.

Issue 7, target 2: with the default batching settings, throughput at least 3x that of
``CLASSIFIER_MAX_BATCH_SIZE=1``, with p99 no worse.

Two real classifier processes (``python -m gameday_services.classifier``, cold start set to 0), one
with ``CLASSIFIER_MAX_BATCH_SIZE=1`` and one with the defaults (services/classifier/
settings.py: max_batch_size 16, max_queue_delay_ms 5, max_queue_size 64; the simulated
accelerator costs compute_base_ms 8 + compute_per_item_ms 1 per batch), both up at once.
wrk drives one at a time with 64 connections, the two interleaved round after round.
Needs wrk (skips with a message if missing).

Run: .venv/bin/python bench/bench_batching.py [--quick] [--rounds 5 --duration 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

CONNECTIONS = 64
BODY = json.dumps({"features": [0.42, -1.3, 0.05, 2.1, -0.7, 0.9, -0.2, 1.4]})
VARIANTS = {"batch=1": {"CLASSIFIER_MAX_BATCH_SIZE": "1"}, "default": {}}
TOKEN = "bench-admin-token-0123456789"


def summarize(runs: dict[str, list[dict]]) -> dict:
    """Medians per variant (good rps, p99), and target 2's ratios and verdict."""
    med = {v: {"rps": bl.median([r["rps"] for r in rs]),
               "p50_ms": bl.median([r["p50_ms"] for r in rs]),
               "p99_ms": bl.median([r["p99_ms"] for r in rs]),
               "non_2xx": sum(r["non_2xx"] for r in rs)} for v, rs in runs.items()}
    speedup = bl.ratio(med["default"]["rps"], med["batch=1"]["rps"])
    p99_ratio = bl.ratio(med["default"]["p99_ms"], med["batch=1"]["p99_ms"])
    return {"median": med, "throughput_ratio": speedup, "p99_ratio": p99_ratio,
            "met": speedup >= 3.0 and p99_ratio <= 1.0}


def measure(rounds: int, duration: float, warmup: float) -> dict:
    procs, urls = {}, {}
    try:
        for v, env in VARIANTS.items():
            port = bl.free_port()
            procs[v] = bl.start_python(["-m", "gameday_services.classifier"], env={
                "CLASSIFIER_PORT": str(port), "CLASSIFIER_LOAD_TIME_S": "0",
                "CLASSIFIER_LOG_LEVEL": "WARNING", "GAMEDAY_ADMIN_TOKEN": TOKEN, **env})
            urls[v] = f"http://127.0.0.1:{port}"
        for v in VARIANTS:
            bl.wait_http(urls[v] + "/readyz", proc=procs[v])
        script = bl.wrk_script("POST", BODY)
        for v in VARIANTS:
            bl.run_wrk(urls[v] + "/v1/predict", CONNECTIONS, warmup, script)
        runs = {v: [] for v in VARIANTS}
        for r in range(rounds):
            for v in bl.rotated(list(VARIANTS), r):
                runs[v].append(bl.run_wrk(urls[v] + "/v1/predict", CONNECTIONS, duration,
                                          script))
    finally:
        for p in procs.values():
            bl.stop(p)
    return {"rounds": rounds, "duration_s": duration, "connections": CONNECTIONS,
            "runs": runs, **summarize(runs)}


def report(res: dict) -> str:
    rows = []
    for v, m in res["median"].items():
        rounds = ", ".join(f"{r['rps']:.0f}" for r in res["runs"][v])
        rows.append([v, m["rps"], m["p50_ms"], m["p99_ms"], m["non_2xx"], rounds])
    text = bl.markdown_table(["max_batch_size", "median good rps", "p50 ms", "p99 ms",
                              "non-2xx", "rps per round"], rows)
    return (f"{text}\nthroughput default / batch=1: {res['throughput_ratio']:.2f} (target >= 3)"
            f"; p99 default / batch=1: {res['p99_ratio']:.2f} (target <= 1): "
            f"{bl.verdict(res['met'])}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s (a smoke run)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    if not bl.require_wrk("bench_batching.py"):
        return
    if args.quick:
        args.rounds, args.duration = 1, 2.0
    res = measure(args.rounds, args.duration, warmup=1.0)
    print(f"classifier POST /v1/predict, wrk -t1 -c{CONNECTIONS}, {args.rounds} x "
          f"{args.duration:g} s interleaved")
    print(report(res))
    if not args.quick:
        bl.save_json("batching.json", res)


if __name__ == "__main__":
    main()
