"""Time for the local stack to reach ready, beside the floor of five bare uvicorn processes.

Target (issue 2): all five processes ready in under 10 s on a 2-core machine.
Each round starts the real stack with ``Stack(build_spec(free_ports=True))`` and, side by
side, five bare FastAPI processes (examples/own_app.py) started at once and polled until they
answer: the ratio says how much the services' own start-up (model load, seeding, warm-up)
adds over importing the framework.

The CLI's own time (`gameday up --detach` to exit) and the stack's memory under load are in
bench_footprint.py, which reuses ``bare_ready_s`` from here.

Run: .venv/bin/python bench/bench_stack_startup.py [--quick] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gameday.stack.local import Stack  # noqa: E402
from gameday.stack.spec import build_spec  # noqa: E402
from tests.procs import free_port  # noqa: E402


def stack_ready_s() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        stack = Stack(build_spec(free_ports=True), home=Path(tmp) / ".gameday").start()
        took = time.perf_counter() - t0
        stack.stop()
    return took


def bare_ready_s(n: int = 5) -> float:
    ports = [free_port() for _ in range(n)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "uvicorn", "examples.own_app:app",
                               "--port", str(p)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for p in ports]
    try:
        pending = set(ports)
        while pending:
            for p in list(pending):
                try:
                    if httpx.get(f"http://127.0.0.1:{p}/healthz", timeout=0.2).status_code == 200:
                        pending.discard(p)
                except httpx.HTTPError:
                    pass
            time.sleep(0.02)
        return time.perf_counter() - t0
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    stack, bare = [], []
    for _ in range(args.rounds):
        stack.append(stack_ready_s())
        bare.append(bare_ready_s())
    s, b = statistics.median(stack), statistics.median(bare)
    rounds = ", ".join(f"{x:.2f}" for x in stack)
    verdict = "met" if s < 10 else "MISSED"
    print(f"stack (5 services) ready : median {s:.2f} s  (rounds: {rounds})  "
          f"target < 10 s: {verdict}")
    print(f"5 bare uvicorn apps ready: median {b:.2f} s")
    print(f"ratio stack / bare       : {s / b:.2f}")


if __name__ == "__main__":
    main()
