"""Overload: gateway goodput at 1x, 2x and 4x a load it is sized for, by admission mode.

Issue 20: the adaptive limit (services/gateway/limiter.py) holds goodput without hand
tuning: at 2x and 4x at least 90% of the measured capacity in every round, p99 of admitted
requests under the latency SLO threshold, at 4x at least as much as a hand-tuned cap.

Goodput: answers 200 to POST /v1/classify received within the threshold of the gateway's
classify latency SLO (slos/gateway.yaml, read with gameday.load.capacity.slo_threshold_s:
300 ms), per second. Latency is measured by the client from the moment a request was due.

How:
1. The real stack (``Stack(build_spec(free_ports=True))``: features, classifier x2, llm,
   gateway, with the embedded SLO engine scraping) in this process.
2. Capacity, measured again at the start of every round (this host's speed drifts by a
   third within a minute: bench/README.md, section 3): a closed-loop ramp (1, 2, 4, ...
   concurrent clients, each sending as soon as it has its answer); the capacity is the
   ramp's peak goodput among the steps whose p99 is within the threshold
   (bench/overload_report.py). 1x is 80% of that capacity (a load a service is sized for,
   below the knee); 2x and 4x are 1.6 and 3.2 times the capacity. Beside it, the open-loop
   capacity: open-loop steps at 50%-100% of the capacity with nothing shed, the highest
   goodput whose p99 is within the threshold (what independent users can send); goodput is
   shown as a share of both, the verdicts are against the capacity.
3. Open-loop load (requests sent at a fixed rate whatever the answers, as independent users
   do) at 1x, 2x, 4x, for each admission mode, switched at runtime with PATCH
   /admin/policy: ``off`` (max_in_flight 100000, the highest the policy accepts: nothing is
   shed), ``default`` (max_in_flight 256, as shipped), ``tuned`` (max_in_flight = the
   concurrency of the last ramp step under the threshold: Little's law at the SLO) and
   ``adaptive`` (admission.adaptive_limit on with its defaults, max_in_flight 256 as its
   ceiling; nothing taken from the ramp). In rounds (3 by default): each round runs every
   mode, each mode's 1x, 2x and 4x back to back, the modes rotated between rounds. Every
   run is printed with the host's speed just before it (``benchlib.host_loop_ms``), a
   table of every round, then the medians.
4. During each run the bench polls the gateway's ``gateway_concurrency_limit`` every
   ``POLL_S``; the adaptive mode's trace and its p99 over time are charted
   (bench/results/overload-adaptive.png) and kept in bench/results/overload.json.
The load generator is a separate process on uvloop: raw asyncio HTTP/1.1 connections
(bench/loadgen.py), because what it costs per request is taken from the stack it shares 2
cores with.

Run: .venv/bin/python bench/bench_overload.py [--quick] [--duration 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402
import loadgen as lg  # noqa: E402
import overload_report as rep  # noqa: E402
import refusal_cost as rc  # noqa: E402

LOADS = (1, 2, 4)
OFF_MAX_IN_FLIGHT = 100_000  # AdmissionPolicy.max_in_flight's upper bound: never sheds
DEFAULT_MAX_IN_FLIGHT = 256
CLIENT_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 2000
ENTITIES = 1000
TICK_S = 0.001  # the open-loop generator sends what is due at most this often
POLL_S = 0.25  # the limit gauge is read this often during a run
# the open-loop steps, as shares of the round's closed-loop capacity (quick: three)
OPEN_SHARES = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
OPEN_SHARES_QUICK = (0.6, 0.8, 1.0)
CHART = "overload-adaptive.png"


# -- the load generator (a separate process; bench/loadgen.py) ---------------------------

async def drive_open(url: str, rate: float, duration: float) -> dict:
    """Send ``rate`` requests/s for ``duration`` s whatever the answers; every outcome.

    The requests due by now are sent together, then the generator sleeps until the next
    is due, at least ``TICK_S`` (a shorter sleep spins: the loop's timers have a
    resolution of 1 ms); each request's latency counts from
    when it was due, and ``lag_p99_ms`` is how late they were sent."""
    loop = asyncio.get_running_loop()
    cpu0 = time.process_time()
    out: list = []
    lags = []
    t0 = loop.time() + 0.05
    wall_t0 = time.time() + 0.05
    client = lg.Client(url, MAX_CONNECTIONS, CLIENT_TIMEOUT_S, ENTITIES, out, t0)
    n = int(rate * duration)
    i = 0
    while i < n:
        now = loop.time()
        due_by_now = min(n, int((now - t0) * rate) + 1)
        while i < due_by_now:
            due = t0 + i / rate
            lags.append(now - due)
            client.submit(due)
            i += 1
        if i < n:
            await asyncio.sleep(max(TICK_S, t0 + i / rate - loop.time()))
    await client.drain()
    client.close()
    return {"mode": "open", "rate": rate, "duration_s": duration, "results": out,
            "lag_p99_ms": bl.percentile(lags, 99) * 1000, "t0": wall_t0,
            "cpu_s": time.process_time() - cpu0}


async def drive_closed(url: str, users: int, duration: float) -> dict:
    """``users`` clients, each sending its next request when it has its answer."""
    loop = asyncio.get_running_loop()
    cpu0 = time.process_time()
    out: list = []
    t0 = loop.time()
    end = t0 + duration
    client = lg.Client(url, MAX_CONNECTIONS, CLIENT_TIMEOUT_S, ENTITIES, out, t0)

    def next_request() -> None:
        now = loop.time()
        if now < end:
            client.submit(now, next_request)

    for _ in range(users):
        next_request()
    await client.drain()
    client.close()
    return {"mode": "closed", "users": users, "duration_s": duration, "results": out,
            "cpu_s": time.process_time() - cpu0}


def drive_main(args) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    if args.rate:
        res = asyncio.run(drive_open(args.drive, args.rate, args.duration))
    else:
        res = asyncio.run(drive_closed(args.drive, args.users, args.duration))
    Path(args.out).write_text(json.dumps(res))


def run_driver(url: str, duration: float, rate: float | None = None,
               users: int | None = None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, __file__, "--drive", url, "--duration", str(duration), "--out", out]
    cmd += ["--rate", str(rate)] if rate else ["--users", str(users)]
    subprocess.run(cmd, check=True, timeout=duration + CLIENT_TIMEOUT_S + 60)
    res = json.loads(Path(out).read_text())
    Path(out).unlink()
    return res


# -- the run ------------------------------------------------------------------------------

def admission_modes(tuned: int, quick: bool, adaptive: dict | None = None) -> dict:
    """The admission section each mode sets (PATCH /admin/policy); ``adaptive``: settings
    the adaptive mode sets beside its defaults (``--adaptive``, to try a tuning)."""
    modes = {"off": {"max_in_flight": OFF_MAX_IN_FLIGHT, "adaptive_limit": False},
             "default": {"max_in_flight": DEFAULT_MAX_IN_FLIGHT, "adaptive_limit": False},
             "tuned": {"max_in_flight": tuned, "adaptive_limit": False},
             "adaptive": {"max_in_flight": DEFAULT_MAX_IN_FLIGHT, **(adaptive or {}),
                          "adaptive_limit": True}}
    if quick:
        del modes["default"]
    return modes


def set_admission(gateway: str, token: str, admission: dict) -> None:
    import httpx

    for attempt in range(3):  # a gateway draining a collapse's backlog answers late
        try:
            r = httpx.patch(f"{gateway}/admin/policy", json={"admission": admission},
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
            break
        except httpx.TimeoutException:
            if attempt == 2:
                raise
    r.raise_for_status()


def concurrency_limit(gateway: str, timeout_s: float = 30.0, client=None) -> float | None:
    """The gateway's ``gateway_concurrency_limit`` gauge (the adaptive limit when on)."""
    import httpx

    try:  # right after a collapse the gateway may still be draining its backlog
        text = (client or httpx).get(f"{gateway}/metrics", timeout=timeout_s).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith("gateway_concurrency_limit "):
            return float(line.split()[1])
    return None


def reset_gateway(gateway: str, token: str) -> None:
    """Close circuits and re-admit ejected replicas: each run starts from a healthy gateway."""
    import httpx

    auth = {"Authorization": f"Bearer {token}"}
    calls = [("PUT", f"{gateway}/admin/upstreams/{name}/circuit", {"state": "closed"})
             for name in ("features", "classifier")]
    calls += [("POST", f"{gateway}/admin/upstreams/classifier/{replica}/uneject", None)
              for replica in range(2)]
    for method, url, body in calls:
        for _ in range(3):  # a gateway draining a collapse's backlog answers late
            try:
                httpx.request(method, url, json=body, headers=auth, timeout=30)
                break
            except httpx.HTTPError:  # settle() finds out whether the gateway came back
                continue


def settle(gateway: str, token: str, seconds: float, give_up_s: float = 30.0,
           fast_s: float = 0.1) -> bool:
    """Let a backlog drain, reset the gateway, wait for 3 model answers in a row within
    ``fast_s``. False if they did not come within ``give_up_s``: the next run would measure
    a broken stack, not an admission mode."""
    import httpx

    time.sleep(seconds)
    reset_gateway(gateway, token)
    fast = 0
    give_up = time.monotonic() + give_up_s
    while time.monotonic() < give_up:
        try:
            t0 = time.perf_counter()
            r = httpx.post(f"{gateway}/v1/classify", json={"entity_id": "e0001"}, timeout=5)
            took = time.perf_counter() - t0
            fast = fast + 1 if r.status_code == 200 and not r.json()["degraded"] \
                and took < fast_s else 0
            if fast >= 3:
                return True
        except Exception:
            fast = 0
        time.sleep(0.2)
    return False


def keep_evidence(stack, gateway: str, token: str) -> Path:
    """The stack's logs and the gateway's view of its upstreams, copied where they outlive
    the bench's temporary folder."""
    import shutil

    import httpx

    dest = Path(tempfile.mkdtemp(prefix="bench-overload-unrecovered-"))
    shutil.copytree(stack.run.path, dest / stack.run.id, dirs_exist_ok=True)
    try:
        text = httpx.get(f"{gateway}/admin/upstreams", timeout=30,
                         headers={"Authorization": f"Bearer {token}"}).text
    except httpx.HTTPError as e:
        text = f"gateway did not answer: {e!r}"
    (dest / "upstreams.json").write_text(text)
    return dest


class LimitPoller:
    """Reads the limit gauge every ``POLL_S`` in a thread while a run goes on:
    ``trace`` is [(wall time, limit or None)]."""

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway
        self.trace: list[tuple[float, float | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import httpx

        # One client (one kept-alive connection) for the run: with a new client per read
        # the adaptive mode's goodput at 2x was 367-382/s, with one 395-400/s, without
        # reading 404-423/s (10 s runs on a quiet machine, 2026-12-03).
        with httpx.Client(trust_env=False) as client:
            while not self._stop.is_set():
                t = time.time()
                self.trace.append((t, concurrency_limit(self.gateway, POLL_S * 4, client)))
                self._stop.wait(max(0.0, POLL_S - (time.time() - t)))

    def __enter__(self) -> LimitPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def relative(self, t0: float) -> list[tuple[float, float | None]]:
        """The trace in seconds from ``t0`` (the load generator's first due time)."""
        return [(round(t - t0, 3), v) for t, v in self.trace]


def ramp_capacity(url: str, ramp_s: float, quick: bool, threshold_s: float,
                  pids: list[int] | None = None) -> list[dict]:
    """Closed-loop steps of 1, 2, 4... clients until p99 passes twice the threshold; each
    with the CPU the stack's processes ``pids`` and the generator used."""
    ramp = []
    users = 1
    factor = 8 if quick else 2
    while users <= (8 if quick else 128):
        with rc.CpuMeter(pids or ()) as meter:
            res = run_driver(url, ramp_s, users=users)
        s = {"users": users, "duration_s": ramp_s,
             **rep.summarize(res["results"], ramp_s, threshold_s),
             "stack_cpu_s": meter.used_s, "generator_cpu_s": res["cpu_s"]}
        ramp.append(s)
        print(f"  ramp {users:>3} users: {s['ok'] / ramp_s:7.1f} ok/s, goodput "
              f"{s['goodput']:7.1f}/s, p99 {s['ok_p99_ms']:7.1f} ms, CPU "
              f"{(meter.used_s + res['cpu_s']) / ramp_s:.2f} cores", flush=True)
        if s["ok_p99_ms"] > threshold_s * 2000:
            break
        users *= factor
    return ramp


def ramp_open(gateway: str, token: str, url: str, peak: float, step_s: float,
              threshold_s: float, fast_s: float, quick: bool) -> list[dict]:
    """Open-loop steps at rising shares of the closed-loop ``peak`` with nothing shed, until
    p99 passes the threshold: the rate independent users can send within the SLO. The
    caller has turned shedding off."""
    steps = []
    for share in (OPEN_SHARES_QUICK if quick else OPEN_SHARES):
        settle(gateway, token, 0.5, fast_s=fast_s)
        res = run_driver(url, step_s, rate=peak * share)
        step = {"offered": peak * share, "duration_s": step_s,
                **rep.summarize(res["results"], step_s, threshold_s)}
        steps.append(step)
        print(f"  open {peak * share:7.1f}/s ({share:.0%} of the peak): goodput "
              f"{step['goodput']:7.1f}/s, p99 {step['ok_p99_ms']:7.1f} ms", flush=True)
        if step["ok_p99_ms"] > threshold_s * 1000:
            break
    return steps


def measure_capacity(stack, token: str, url: str, ramp_s: float, quick: bool,
                     threshold_s: float) -> dict:
    """A round's capacities: the closed-loop ramp (its peak within the SLO is the capacity,
    its last step within the SLO the tuned cap), then the open-loop steps, then what a
    refusal costs against a served answer (bench/refusal_cost.py)."""
    from gameday.load.capacity import find_slo_limit

    gateway = stack.url("gateway")
    threshold_ms = threshold_s * 1000
    set_admission(gateway, token, {"max_in_flight": OFF_MAX_IN_FLIGHT, "adaptive_limit": False})
    settle(gateway, token, 0.5)
    ramp = ramp_capacity(url, ramp_s, quick, threshold_s, rc.stack_pids(stack))
    steps = rep.knee_steps(ramp)
    closed = rep.capacity_from_ramp(ramp, threshold_ms)
    # "fast" between runs: 100 ms, or twice the unloaded p99 on a machine busy elsewhere
    fast_s = max(0.1, 2 * ramp[0]["ok_p99_ms"] / 1000)
    open_ramp = ramp_open(gateway, token, url, closed, ramp_s, threshold_s, fast_s, quick)
    cap = {"closed": closed, "open": rep.capacity_from_ramp(open_ramp, threshold_ms),
           "tuned": rep.tuned_in_flight(steps, threshold_ms), "fast_s": fast_s,
           "knee": find_slo_limit(steps, threshold_ms),  # clients unpaced: no per-user knee
           "ramp": ramp, "open_ramp": open_ramp}
    print(f"capacity (closed-loop ramp peak within {threshold_ms:g} ms): {closed:.0f}/s; "
          f"1x = {rep.BASE_SHARE:.0%} of it = {closed * rep.BASE_SHARE:.0f} rps; open-loop "
          f"capacity {cap['open']:.0f}/s; tuned max_in_flight {cap['tuned']}", flush=True)
    settle(gateway, token, 0.5, fast_s=fast_s)
    cap["refusal"] = rc.measure_refusal(stack, token, closed * rep.BASE_SHARE * max(LOADS),
                                        run_driver, 1.5 if quick else rc.REFUSAL_STEP_S)
    cap["served_ms"] = rep.served_ms(ramp, threshold_ms)
    print(f"  CPU: {rep.fmt_ms(cap['served_ms'])} ms a served answer (the peak step, stack and "
          f"generator); a refusal at {cap['refusal']['rate']:.0f}/s: "
          f"{rep.fmt_ms(cap['refusal']['gateway_ms'])} ms of the gateway, "
          f"{rep.fmt_ms(cap['refusal']['generator_ms'])} ms of the generator "
          f"({cap['refusal']['refused']} of {cap['refusal']['answers']} refused); "
          f"estimated most kept at 2x / 4x: {rep.estimate_text(cap)}", flush=True)
    return cap


def peak_again(gateway: str, token: str, url: str, cap: dict, ramp_s: float,
               threshold_s: float) -> float:
    """The ramp's peak step (its clients, nothing shed) run again at the end of a round: its
    goodput against the round's capacity shows how far the host's speed drifted while the
    round ran (the verdicts stay against the capacity measured at the start)."""
    users = rep.peak_users(cap["ramp"], threshold_s * 1000)
    set_admission(gateway, token, {"max_in_flight": OFF_MAX_IN_FLIGHT, "adaptive_limit": False})
    settle(gateway, token, 0.5, fast_s=cap["fast_s"])
    goodput = rep.summarize(run_driver(url, ramp_s, users=users)["results"], ramp_s,
                            threshold_s)["goodput"]
    print(f"  the peak step again ({users} clients): goodput {goodput:.0f}/s, "
          f"{goodput / cap['closed'] - 1:+.0%} against the round's capacity "
          f"{cap['closed']:.0f}/s", flush=True)
    return goodput


def run(duration: float, ramp_s: float, quick: bool, rounds: int = 3,
        only: list[str] | None = None, adaptive: dict | None = None) -> dict:
    from gameday.load.capacity import default_slo_file, slo_threshold_s
    from gameday.stack.local import Stack
    from gameday.stack.spec import build_spec

    threshold_s, slo_name = slo_threshold_s(default_slo_file())
    threshold_ms = threshold_s * 1000
    loadavg = {"start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp, \
            Stack(build_spec(free_ports=True), home=Path(tmp) / ".gameday") as stack:
        gateway, token = stack.url("gateway"), stack.token
        url = f"{gateway}/v1/classify"
        run_driver(url, 1.0, users=8)  # warm-up
        by_round: list[dict] = []
        capacities: list[dict] = []
        admissions: list[dict] = []
        lags: dict = {}
        traces: dict = {}  # mode -> load -> [per round [(s, limit)]]
        latencies: dict = {}  # mode -> load -> [per round [(s, p99)]]
        loads = (1, 4) if quick else LOADS
        stopped = None
        for k in range(rounds):
            print(f"round {k + 1}:", flush=True)
            cap = measure_capacity(stack, token, url, ramp_s, quick, threshold_s)
            modes = admission_modes(cap["tuned"], quick, adaptive)
            modes = {m: a for m, a in modes.items() if not only or m in only}
            rows: dict = {m: {} for m in modes}
            for mode in bl.rotated(list(modes), k):
                for load in loads:
                    set_admission(gateway, token, modes[mode])
                    if not settle(gateway, token, 0.5 if quick else 2.0,
                                  fast_s=cap["fast_s"]):
                        stopped = (f"stopped in round {k + 1} before {load}x {mode}: the "
                                   f"gateway gave no 3 model answers in a row within "
                                   f"{cap['fast_s'] * 1000:.0f} ms each within "
                                   f"30 s of the last run; logs and upstreams in "
                                   f"{keep_evidence(stack, gateway, token)}")
                        print(f"  {stopped}", flush=True)
                        break
                    host_ms = bl.host_loop_ms()
                    rate = cap["closed"] * rep.BASE_SHARE * load
                    with LimitPoller(gateway) as poller:
                        res = run_driver(url, duration, rate=rate)
                    r = rows[mode][load] = rep.with_capacity(
                        {**rep.summarize(res["results"], duration, threshold_s),
                         "host_loop_ms": host_ms}, cap)
                    trace = poller.relative(res["t0"])
                    traces.setdefault(mode, {}).setdefault(str(load), []).append(trace)
                    latencies.setdefault(mode, {}).setdefault(str(load), []).append(
                        rep.latency_buckets(res["results"]))
                    lags.setdefault(mode, {}).setdefault(load, []).append(res["lag_p99_ms"])
                    print(f"  round {k + 1} {load}x {mode:>8}: goodput {r['goodput']:7.1f}/s "
                          f"({r['share']:4.0%} of capacity, {r['open_share']:4.0%} of the "
                          f"open-loop capacity), admitted p99 {r['admitted_p99_ms']:7.1f} ms, "
                          f"shed {r['shed_429']}, errors {r['errors']}, fallbacks "
                          f"{r['fallbacks']}, generator lag p99 {res['lag_p99_ms']:.0f} ms, "
                          f"limit {rep.limit_range(trace)}, host loop {host_ms:.0f} ms",
                          flush=True)
                if stopped:
                    break
            if stopped:
                break  # the unfinished round is left out
            cap["closed_end"] = peak_again(gateway, token, url, cap, ramp_s, threshold_s)
            by_round.append(rows)
            capacities.append(cap)
            admissions.append(modes)
    loadavg["end"] = os.getloadavg()
    if not by_round:
        raise SystemExit(f"bench_overload: no round completed; {stopped}")
    return {"threshold_ms": threshold_ms, "slo": slo_name, "capacities": capacities,
            "base_share": rep.BASE_SHARE, "admission": admissions,
            "rounds": by_round, "rows": rep.median_rows(by_round),
            "generator_lag_p99_ms": lags, "limit_trace": traces,
            "latency_p99_trace": latencies, "loadavg": loadavg,
            "verdicts": rep.verdicts(by_round, threshold_ms),
            "duration_s": duration, "stopped": stopped}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: ramp 1 and 8 users, 1.5 s runs, 1x and 4x, "
                             "off/tuned/adaptive, nothing written")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--ramp-step", type=float, default=3.0, help="seconds per ramp step")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every mode at 1x, 2x, 4x (each printed, and medians)")
    parser.add_argument("--modes", help="comma-separated subset of off,default,tuned,adaptive "
                                        "(all by default)")
    parser.add_argument("--adaptive", type=json.loads, default=None, metavar="JSON",
                        help="admission settings the adaptive mode sets beside its defaults, "
                             "e.g. '{\"limit_tolerance\": 3}' (a tuning to compare)")
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive_main(args)
        return
    if args.quick:
        args.duration, args.ramp_step, args.rounds = 1.5, 1.0, 1
    started = time.monotonic()
    only = args.modes.split(",") if args.modes else None
    if args.adaptive is not None and not isinstance(args.adaptive, dict):
        parser.error(f"--adaptive: expected a JSON object, got {args.adaptive!r}")
    res = run(args.duration, args.ramp_step, args.quick, args.rounds, only, args.adaptive)
    res["wall_s"] = time.monotonic() - started
    print(f"gateway POST /v1/classify, SLO {res['slo']} threshold {res['threshold_ms']:g} ms, "
          f"open loop {res['duration_s']:g} s per run, {len(res['rounds'])} round(s), "
          f"{res['wall_s']:.0f} s in all, load average "
          f"{' '.join(f'{x:.2f}' for x in res['loadavg']['start'])} at the start, "
          f"{' '.join(f'{x:.2f}' for x in res['loadavg']['end'])} at the end")
    print(rep.report(res))
    if res["stopped"]:
        print(f"NOT all rounds measured: {res['stopped']}")
    if not args.quick:
        path = bl.save_json("overload.json", res)
        if "adaptive" in res["limit_trace"]:
            png = rep.chart(res["limit_trace"]["adaptive"], res["latency_p99_trace"]["adaptive"],
                            res["threshold_ms"], path.parent / CHART)
            print(f"wrote {path} and {png}")


if __name__ == "__main__":
    main()
