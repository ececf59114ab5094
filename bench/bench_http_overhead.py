"""HTTP overhead of gameday's telemetry + fault middleware, over loopback, with wrk.

Issue 7, target 1: with no fault active, at most 10% throughput loss on a trivial endpoint
and at most 2% on the classifier's POST /v1/predict, and less overhead than
prometheus-fastapi-instrumentator (the usual choice).

Each variant is a real uvicorn process (uvloop + httptools, as the services run), all of
them up at once; wrk drives one at a time at fixed concurrency and the variants are
interleaved round after round (each round starts with a different one), so machine drift
hits them alike. Reported: median good answers/s per variant, its loss against bare
FastAPI (the median over rounds of each round's loss against bare in that round), and the
server's CPU time per request. Variants:

- bare            FastAPI, no middleware
- faults          + ``install_faults`` (no fault active)
- gameday         + ``install_faults`` + ``install_telemetry`` (what every service runs)
- instrumentator  + prometheus-fastapi-instrumentator's defaults (instrument + expose)

The /v1/predict apps are the real classifier (runtime, batcher, simulated accelerator,
cold start set to 0); only the middleware differs. Needs wrk (skips with a message if
missing).

Run: .venv/bin/python bench/bench_http_overhead.py [--quick] [--rounds 15 --duration 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

VARIANTS = ["bare", "faults", "gameday", "instrumentator"]
ENDPOINTS = {
    # name: (path, method, body, wrk connections, target max loss of gameday)
    # a trivial handler both ways: ``def`` (FastAPI runs it in its thread pool) and
    # ``async def`` (on the event loop: the cheaper request, so the larger relative overhead)
    "trivial": ("/v1/items/7", "GET", None, 32, 0.10),
    "trivial-async": ("/v1/async-items/7", "GET", None, 32, 0.10),
    "predict": ("/v1/predict", "POST",
                json.dumps({"features": [0.42, -1.3, 0.05, 2.1, -0.7, 0.9, -0.2, 1.4]}),
                64, 0.02),
}
TOKEN = "bench-admin-token-0123456789"


# -- the servers ----------------------------------------------------------------------

def add_middleware(app, variant: str, service: str):
    """Put ``variant``'s middleware on ``app``; the fault store (a bare one if none)."""
    from prometheus_client import CollectorRegistry

    from gameday.faults import FaultStore, install_faults
    from gameday.faults.catalog import types_for
    from gameday.telemetry import install_telemetry

    store = None
    if variant in ("faults", "gameday"):
        store = install_faults(app, service=service, token=TOKEN)
    if variant == "gameday":
        install_telemetry(app, service=service, registry=CollectorRegistry())
    if variant == "instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator
        Instrumentator().instrument(app).expose(app)
    if variant.startswith("spin-"):
        add_spin_layer(app, int(variant.removeprefix("spin-")))
    return store or FaultStore(types_for(service), None)


def spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i
    return x


def add_spin_layer(app, n: int) -> None:
    """Calibration (``--calibrate``): a pass-through layer that only spends ``n`` loop
    iterations of CPU per request, no allocation, to show what a microsecond of work per
    request costs the server under load."""
    build = app.build_middleware_stack

    def build_with_spin():
        inner = build()

        async def spinning(scope, receive, send):
            if scope["type"] == "http":
                spin(n)
            await inner(scope, receive, send)
        return spinning

    app.build_middleware_stack = build_with_spin


def spin_us(n: int) -> float:
    """In-process cost of ``spin(n)`` in microseconds (median of 5 timeit runs)."""
    import timeit

    runs = timeit.repeat(lambda: spin(n), number=20000, repeat=5)
    return bl.median(runs) / 20000 * 1e6


def trivial_app(variant: str):
    from fastapi import FastAPI

    app = FastAPI()
    add_middleware(app, variant, "bench")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/v1/items/{item_id}")
    def item(item_id: int) -> dict:
        return {"item_id": item_id}

    @app.get("/v1/async-items/{item_id}")
    async def async_item(item_id: int) -> dict:
        return {"item_id": item_id}

    return app


def predict_app(variant: str):
    """The classifier's app as services/classifier/app.py wires it, middleware per variant."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from prometheus_client import CollectorRegistry

    from gameday_services.classifier.routes import build_router, validation_error
    from gameday_services.classifier.runtime import ClassifierRuntime
    from gameday_services.classifier.settings import Settings

    settings = Settings(load_time_s=0.0)
    if variant == "gameday":  # exactly the service's own factory
        from gameday_services.classifier.app import create_app
        return create_app(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await app.state.runtime.start()
        try:
            yield
        finally:
            await app.state.runtime.stop()

    app = FastAPI(lifespan=lifespan)
    store = add_middleware(app, variant, "classifier")
    runtime = ClassifierRuntime(settings, store, CollectorRegistry())
    app.state.runtime = runtime
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(build_router(runtime))
    return app


def serve(variant: str, endpoint: str, port: int) -> None:
    import logging
    import os

    split = bl.split_cpus()
    if split:
        os.sched_setaffinity(0, split[1])

    import uvicorn

    logging.getLogger("services.classifier").setLevel(logging.WARNING)
    app = predict_app(variant) if endpoint == "predict" else trivial_app(variant)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


# -- the measurement --------------------------------------------------------------------

def summarize(rps: dict[str, list[float]], max_loss: float) -> dict:
    """Median rps per variant, losses against bare, and the verdicts of target 1.

    A loss is the median over rounds of the loss against bare in the same round (paired:
    the variants of a round run back to back, so drift of a shared machine hits both)."""
    med = {v: bl.median(xs) for v, xs in rps.items()}
    paired = {v: [bl.loss(x, b) for x, b in zip(xs, rps["bare"], strict=True)]
              for v, xs in rps.items()}
    losses = {v: bl.median(xs) for v, xs in paired.items()}
    # the spread of the rounds' losses: how far one round is from the next on this machine
    quartiles = {v: [bl.percentile(xs, 25), bl.percentile(xs, 75)] for v, xs in paired.items()}
    gd, inst = losses.get("gameday"), losses.get("instrumentator")
    return {"median_rps": med, "loss": losses, "loss_quartiles": quartiles,
            "max_loss": max_loss,
            "target_loss_met": gd is not None and gd <= max_loss,
            "beats_instrumentator": gd is not None and inst is not None and gd < inst}


def cheaper(summary: dict, noise: float = 0.01) -> bool:
    """gameday costs less than prometheus-fastapi-instrumentator: less server CPU per
    request, and no more throughput lost (within ``noise``). CPU decides because on
    /v1/predict throughput is bound by the simulated accelerator, not by the middleware."""
    loss, cpu = summary["loss"], summary.get("cpu_ratio") or {}
    if "gameday" not in cpu or "instrumentator" not in cpu:
        return summary["beats_instrumentator"]
    return (cpu["gameday"] < cpu["instrumentator"]
            and loss["gameday"] <= loss["instrumentator"] + noise)


def table(name: str, summary: dict, rps: dict[str, list[float]]) -> str:
    """Per variant: median rps, loss against bare, and (when measured) the server's CPU
    time per request, steadier than rps on a shared machine, and its ratio to bare."""
    cpu = summary.get("cpu_us_per_request") or {}
    rows = []
    for v in summary["median_rps"]:
        rounds = ", ".join(f"{x:.0f}" for x in rps[v])
        c = cpu.get(v)
        cratio = (summary.get("cpu_ratio") or {}).get(v)
        if cratio is None and c is not None:
            cratio = bl.ratio(c, cpu.get("bare"))
        q1, q3 = (summary.get("loss_quartiles") or {}).get(v, (None, None))
        spread = f"{bl.pct(q1)} to {bl.pct(q3)}" if q1 is not None else "n/a"
        rows.append([v, summary["median_rps"][v], bl.pct(summary["loss"][v]), spread, c,
                     bl.fmt(cratio, 2), rounds])
    return f"{name}\n" + bl.markdown_table(
        ["variant", "median good rps", "loss vs bare", "middle half of rounds",
         "server CPU us/request", "CPU ratio to bare", "rps per round"], rows) + (
        "\n(loss and CPU ratio: median over rounds of each round's ratio to bare; middle "
        "half: the rounds' losses between their 25th and 75th percentiles)")


def measure(endpoint: str, rounds: int, duration: float, warmup: float,
            variants: list[str] = VARIANTS) -> dict:
    path, method, body, conns, max_loss = ENDPOINTS[endpoint]
    procs, urls = {}, {}
    try:
        for v in variants:
            port = bl.free_port()
            procs[v] = bl.start_python([__file__, "--serve", v, "--endpoint", endpoint,
                                        "--port", str(port)],
                                       env={"GAMEDAY_ADMIN_TOKEN": TOKEN})
            urls[v] = f"http://127.0.0.1:{port}"
        for v in variants:
            bl.wait_http(urls[v] + ("/readyz" if endpoint == "predict" else "/healthz"),
                         proc=procs[v])
        script = bl.wrk_script(method, body)
        split = bl.split_cpus()
        wrk_cpus = split[0] if split else None
        for v in variants:
            bl.run_wrk(urls[v] + path, conns, warmup, script, cpus=wrk_cpus)
        rps = {v: [] for v in variants}
        cpu = {v: [] for v in variants}
        details = {v: [] for v in variants}
        for r in range(rounds):
            for v in bl.rotated(variants, r):
                c0 = cpu_seconds(procs[v].pid)
                res = bl.run_wrk(urls[v] + path, conns, duration, script, cpus=wrk_cpus)
                res["server_cpu_us_per_request"] = bl.ratio(
                    (cpu_seconds(procs[v].pid) - c0) * 1e6, res["requests"])
                rps[v].append(res["rps"])
                cpu[v].append(res["server_cpu_us_per_request"])
                details[v].append(res)
                time.sleep(0.2)
    finally:
        for p in procs.values():
            bl.stop(p)
    summary = summarize(rps, max_loss)
    summary["cpu_us_per_request"] = {v: bl.median(xs) for v, xs in cpu.items()}
    summary["cpu_ratio"] = {
        v: bl.median([bl.ratio(x, b) for x, b in zip(xs, cpu["bare"], strict=True)])
        for v, xs in cpu.items()}
    summary["beats_instrumentator"] = cheaper(summary)
    return {"endpoint": endpoint, "connections": conns, "rounds": rounds,
            "duration_s": duration, "rps": rps, "runs": details, **summary}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included)."""
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s (a smoke run)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run")
    parser.add_argument("--endpoint", choices=list(ENDPOINTS), action="append")
    parser.add_argument("--calibrate", action="store_true",
                        help="add pass-through layers that only spin 100 and 200 loop "
                             "iterations per request: what a microsecond costs under load")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.endpoint[0], args.port)
        return
    if not bl.require_wrk("bench_http_overhead.py"):
        return
    if args.quick:
        args.rounds, args.duration = 1, 1.0
    warmup = 1.0 if args.quick else 2.0
    results = {}
    for endpoint in args.endpoint or list(ENDPOINTS):
        variants = VARIANTS + (["spin-100", "spin-200"] if args.calibrate else [])
        res = measure(endpoint, args.rounds, args.duration, warmup, variants)
        results[endpoint] = res
        path, method = ENDPOINTS[endpoint][:2]
        title = (f"{endpoint} ({method} {path}, wrk -t1 -c{res['connections']}, "
                 f"{args.rounds} x {args.duration:g} s interleaved)")
        print(table(title, res, res["rps"]))
        gd, inst = res["loss"]["gameday"], res["loss"]["instrumentator"]
        print(f"gameday loss {bl.pct(gd)} (target <= {bl.pct(res['max_loss'], 0)}): "
              f"{bl.verdict(res['target_loss_met'])}; instrumentator loss {bl.pct(inst)}; "
              f"CPU per request gameday {bl.fmt(res['cpu_ratio']['gameday'], 2)}x bare, "
              f"instrumentator {bl.fmt(res['cpu_ratio']['instrumentator'], 2)}x: "
              f"gameday cheaper: {bl.verdict(res['beats_instrumentator'])}", flush=True)
        for v in variants:
            if v.startswith("spin-"):
                n = int(v.removeprefix("spin-"))
                print(f"{v}: a layer spinning {n} loop iterations, {spin_us(n):.2f} us per "
                      f"request in process; under wrk: loss {bl.pct(res['loss'][v])}, "
                      f"CPU {bl.fmt(res['cpu_ratio'][v], 2)}x bare", flush=True)
        print(flush=True)
    if not args.quick:  # a partial or calibration run does not replace the full record
        name = "http_overhead"
        if sorted(results) != sorted(ENDPOINTS) or args.calibrate:
            name = "-".join([name, *sorted(results)] + (["calibrate"] if args.calibrate else []))
        bl.save_json(f"{name}.json", results)


if __name__ == "__main__":
    main()
