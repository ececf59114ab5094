"""Overhead of gameday's telemetry + fault middleware on a trivial FastAPI route.

Side by side in one process: the same app without and with ``install_telemetry`` and
``install_faults`` (no fault active, then one non-matching fault), driven through the ASGI
interface with httpx so the network does not blur the ratio.

A second measure, with less noise on a shared machine: the apps of
bench_http_overhead.py (bare, gameday, prometheus-fastapi-instrumentator) called directly
through ASGI (no client), CPU time of this process per
request (process_time, the thread pool included), many short interleaved rounds.

The over-the-network counterpart (real uvicorn processes, wrk, prometheus-fastapi-instrumentator
beside it) is bench_http_overhead.py.

Run: .venv/bin/python bench/bench_middleware.py [--quick] [--requests 3000] [--no-cpu]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from gameday.faults import FaultSpec, install_faults
from gameday.telemetry import install_telemetry


def build(instrumented: bool, with_fault: bool = False) -> FastAPI:
    app = FastAPI()
    if instrumented:
        store = install_faults(app, service="bench", token="bench")
        install_telemetry(app, service="bench", registry=CollectorRegistry())
        if with_fault:
            store.add(FaultSpec(type="latency", route="/other/*", ttl_s=3600))

    @app.get("/v1/items/{item_id}")
    def item(item_id: int) -> dict:
        return {"item_id": item_id}

    return app


async def drive(app: FastAPI, n: int) -> float:
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for i in range(50):
            await client.get(f"/v1/items/{i}")
        start = time.perf_counter()
        for i in range(n):
            await client.get(f"/v1/items/{i}")
        return (time.perf_counter() - start) / n


def measure(n: int, rounds: int = 5) -> dict:
    variants = {"plain": (False, False), "instrumented": (True, False),
                "instrumented+fault": (True, True)}
    times = {k: [] for k in variants}
    for _ in range(rounds):  # interleave the variants so drift hits all alike
        for name, (inst, fault) in variants.items():
            times[name].append(asyncio.run(drive(build(inst, fault), n)))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "per_request_us": {k: round(v * 1e6, 1) for k, v in med.items()},
        "ratio_instrumented_vs_plain": round(med["instrumented"] / med["plain"], 3),
        "ratio_with_fault_vs_plain": round(med["instrumented+fault"] / med["plain"], 3),
    }


async def cpu_per_request(app, n: int) -> float:
    """CPU microseconds per request of ``app`` called directly (GET /v1/items/7)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/v1/items/7",
             "raw_path": b"/v1/items/7", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 2)}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    for _ in range(20):
        await app(dict(scope), receive, send)
    t0 = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.process_time() - t0) / n * 1e6


def measure_cpu(n: int, rounds: int) -> dict:
    import os
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("GAMEDAY_ADMIN_TOKEN", "bench")
    from bench_http_overhead import trivial_app

    variants = ["bare", "gameday", "instrumentator"]
    apps = {v: trivial_app(v) for v in variants}
    cpu = {v: [] for v in variants}

    async def run_all():
        # Start-up as a server runs it (install_faults moves its admin routes last then).
        for app in apps.values():
            await app.router.lifespan_context(app).__aenter__()
        for r in range(rounds):
            for v in variants[r % len(variants):] + variants[:r % len(variants)]:
                cpu[v].append(await cpu_per_request(apps[v], n))

    asyncio.run(run_all())
    med = {v: statistics.median(xs) for v, xs in cpu.items()}
    return {"cpu_us": med, "ratio": {v: m / med["bare"] for v, m in med.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="300 requests x 2 rounds")
    parser.add_argument("--no-cpu", dest="cpu", action="store_false",
                        help="skip the CPU-per-request measure (direct ASGI)")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 300, 2
    result = measure(args.requests, args.rounds)
    for k, v in result["per_request_us"].items():
        print(f"{k:>20}: {v:8.1f} us/request")
    print(f"instrumented / plain : {result['ratio_instrumented_vs_plain']:.3f}")
    print(f"with fault / plain   : {result['ratio_with_fault_vs_plain']:.3f}")
    if args.cpu:
        cpu = measure_cpu(100 if args.quick else 400, 4 if args.quick else 40)
        print("CPU per request, direct ASGI (median of interleaved rounds):")
        for v, us in cpu["cpu_us"].items():
            print(f"{v:>20}: {us:8.1f} us  ratio to bare {cpu['ratio'][v]:.3f}")


if __name__ == "__main__":
    main()
