"""Overhead of gameday's telemetry + fault middleware on a trivial FastAPI route.

Side by side in one process: the same app without and with ``install_telemetry`` and
``install_faults`` (no fault active, then one non-matching fault), driven through the ASGI
interface with httpx so the network does not blur the ratio.

The over-the-network counterpart (real uvicorn processes, wrk, prometheus-fastapi-instrumentator
beside it) is bench_http_overhead.py.

Run: .venv/bin/python bench/bench_middleware.py [--quick] [--requests 3000]
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
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="300 requests x 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 300, 2
    result = measure(args.requests, args.rounds)
    for k, v in result["per_request_us"].items():
        print(f"{k:>20}: {v:8.1f} us/request")
    print(f"instrumented / plain : {result['ratio_instrumented_vs_plain']:.3f}")
    print(f"with fault / plain   : {result['ratio_with_fault_vs_plain']:.3f}")


if __name__ == "__main__":
    main()
