"""Run every benchmark under bench/ and print its results (see bench/README.md).

    .venv/bin/python bench/run.py            # full measurement runs (over an hour, see below)
    .venv/bin/python bench/run.py --quick    # smoke run for CI: every bench, short
    .venv/bin/python bench/run.py --only overload,batching [--quick]

Each bench_*.py takes ``--quick``; wrk-based benches print SKIPPED when wrk is missing.
bench_engine_agreement.py (both engines on the live stack) needs prometheus, else SKIPPED;
it runs 5 minutes of traffic, 60 s with ``--quick``.
bench_quiet_drills.py runs 20 whole drills (about 40 minutes more); ``--quick`` runs one.
bench_store_memory.py records 10 minutes of the live stack (about 15 minutes in all);
``--quick`` records 30 s.
bench_overload.py runs three rounds (about 9 minutes); bench_backtest.py stitches and
backtests 1, 4 and 24 h recordings beside promtool's backfill (about 7 minutes).
A failing bench is reported and the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def benches(only: str | None = None) -> list[Path]:
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        wanted = {w.strip().removeprefix("bench_").removesuffix(".py") for w in only.split(",")}
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    return scripts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short smoke runs")
    parser.add_argument("--only", help="comma-separated names, e.g. overload,batching")
    args = parser.parse_args()
    failed = []
    for script in benches(args.only):
        print(f"== {script.name}{' --quick' if args.quick else ''}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, str(script),
                             *(["--quick"] if args.quick else [])]).returncode
        print(f"== {script.name}: {'ok' if rc == 0 else f'FAILED ({rc})'} in "
              f"{time.perf_counter() - t0:.0f} s\n", flush=True)
        if rc:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
