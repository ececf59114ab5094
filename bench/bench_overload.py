"""Overload: gateway goodput at 1x, 2x and 4x its capacity, admission control on vs off.

Issue 7, target 3: with shedding, goodput at 4x at least 80% of the peak and p99 of the
admitted requests under the latency SLO threshold; without it, the collapse is shown.

Goodput: answers 200 to POST /v1/classify received within the threshold of the gateway's
classify latency SLO (slos/gateway.yaml, read with gameday.load.capacity.slo_threshold_s:
300 ms), per second. Latency is measured by the client from the moment a request was due.

How:
1. The real stack (``Stack(build_spec(free_ports=True))``: features, classifier x2, llm,
   gateway, with the embedded SLO engine scraping) in this process.
2. Capacity: a closed-loop ramp (1, 2, 4, ... concurrent clients, each sending as soon as it
   has its answer); the knee is where p99 crosses the threshold, interpolated by
   gameday.load.capacity.find_knee (the logic of ``gameday load capacity``).
3. Open-loop load (requests sent at a fixed rate whatever the answers, as independent users
   do) at 1x, 2x, 4x the knee, for each admission mode, interleaved: ``off``
   (max_in_flight 100000, the highest the policy accepts: nothing is shed), ``default``
   (max_in_flight 256, as shipped), ``tuned`` (max_in_flight = the concurrency of the
   last ramp step under the threshold: Little's law at the SLO) and ``adaptive``
   (admission.adaptive_limit on with its defaults, max_in_flight 256 as its ceiling: the
   AIMD limit of services/gateway/limiter.py, nothing taken from the ramp). The mode is
   switched at runtime with PATCH /admin/policy. In rounds (3 by default): each round runs
   every mode, each mode's 1x, 2x and 4x back to back, the modes rotated between rounds;
   the table gives medians over rounds, and the verdict the median of each round's own
   share at 4x (a drift of the shared machine between rounds does not read as a drop).
The load generator is a separate process (aiohttp on uvloop: about half the CPU per request
of httpx, which matters when it shares 2 cores with the stack).

Run: .venv/bin/python bench/bench_overload.py [--quick] [--duration 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

LOADS = (1, 2, 4)
OFF_MAX_IN_FLIGHT = 100_000  # AdmissionPolicy.max_in_flight's upper bound: never sheds
DEFAULT_MAX_IN_FLIGHT = 256
CLIENT_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 2000
ENTITIES = 1000


# -- the load generator (a separate process) ----------------------------------------------

FALLBACKS = (b"cached_answer", b"most_frequent_class")


async def _one(session, url: str, due: float, out: list) -> None:
    """One request; appends (status, seconds since due, fallback?)."""
    import aiohttp

    loop = asyncio.get_running_loop()
    body = {"entity_id": f"e{random.randrange(ENTITIES):04d}"}
    try:
        async with session.post(url, json=body) as resp:
            data = await resp.read()
            out.append((resp.status, loop.time() - due, any(f in data for f in FALLBACKS)))
    except (aiohttp.ClientError, TimeoutError, OSError):
        out.append((0, loop.time() - due, False))


async def drive_open(url: str, rate: float, duration: float) -> dict:
    """Send ``rate`` requests/s for ``duration`` s whatever the answers; every outcome."""
    import aiohttp

    loop = asyncio.get_running_loop()
    out: list = []
    lags = []
    conn = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        n = int(rate * duration)
        t0 = loop.time() + 0.05
        tasks = []
        for i in range(n):
            due = t0 + i / rate
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            lags.append(loop.time() - due)
            tasks.append(loop.create_task(_one(session, url, due, out)))
        await asyncio.gather(*tasks)
    return {"mode": "open", "rate": rate, "duration_s": duration, "results": out,
            "lag_p99_ms": bl.percentile(lags, 99) * 1000}


async def drive_closed(url: str, users: int, duration: float) -> dict:
    """``users`` clients, each sending its next request when it has its answer."""
    import aiohttp

    loop = asyncio.get_running_loop()
    out: list = []
    end = loop.time() + duration
    conn = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        async def user(k: int) -> None:
            while loop.time() < end:
                await _one(session, url, loop.time(), out)
        await asyncio.gather(*(user(k) for k in range(users)))
    return {"mode": "closed", "users": users, "duration_s": duration, "results": out}


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


# -- statistics (pure) ----------------------------------------------------------------------

def summarize(results: list, duration: float, threshold_s: float) -> dict:
    """Goodput and the rest from (status, latency_s, fallback) per request.

    Good, as the gateway's SLOs count: 200 with a model answer (a cached answer or a
    most-frequent-class guess is a fallback, bad for the availability SLO), within the
    latency threshold. Admitted: every request not shed with 429 (timeouts included)."""
    ok = [lat for status, lat, fb in results if status == 200 and not fb]
    good = [lat for lat in ok if lat <= threshold_s]
    admitted = [lat for status, lat, _ in results if status != 429]
    return {"sent": len(results), "ok": len(ok), "good": len(good),
            "shed_429": sum(1 for status, _, _ in results if status == 429),
            "fallbacks": sum(1 for status, _, fb in results if status == 200 and fb),
            "errors": sum(1 for status, _, _ in results if status not in (200, 429)),
            "rps": len(results) / duration, "goodput": len(good) / duration,
            "ok_p99_ms": bl.percentile(ok, 99) * 1000,
            "admitted_p50_ms": bl.percentile(admitted, 50) * 1000,
            "admitted_p99_ms": bl.percentile(admitted, 99) * 1000}


def knee_steps(ramp: list[dict]) -> list[dict]:
    """Ramp summaries as find_knee wants them (users, rps, p99_ms)."""
    return [{"users": s["users"], "rps": s["ok"] / s["duration_s"], "p99_ms": s["ok_p99_ms"]}
            for s in ramp]


def tuned_in_flight(steps: list[dict], threshold_ms: float) -> int:
    """Concurrency of the last ramp step whose p99 is under the threshold (at least 1)."""
    under = [s["users"] for s in steps if s["p99_ms"] <= threshold_ms]
    return max(under) if under else 1


def share_at_4x(by_load: dict) -> tuple[float, float] | None:
    """(goodput at 4x / the best goodput over the loads, p99 of admitted at 4x)."""
    at4 = by_load.get(4) or by_load.get("4")
    if at4 is None:
        return None
    peak = max(r["goodput"] for r in by_load.values())
    return bl.ratio(at4["goodput"], peak), at4["admitted_p99_ms"]


def median_rows(rounds: list[dict]) -> dict:
    """Per mode and load, the median over rounds of every number of the summaries."""
    out: dict = {}
    for mode in rounds[0]:
        out[mode] = {}
        for load in rounds[0][mode]:
            cells = [rnd[mode][load] for rnd in rounds if load in rnd.get(mode, {})]
            out[mode][load] = {k: bl.median([c[k] for c in cells]) for k in cells[0]}
    return out


def verdicts(rows: dict, threshold_ms: float, rounds: list[dict] | None = None) -> dict:
    """Target 3 per admission mode: goodput at 4x >= 80% of the mode's peak, p99 under.

    With rounds, the share and the p99 are the medians over rounds of each round's own
    (a round runs a mode's 1x, 2x and 4x back to back, so a drift of the shared machine
    between rounds does not read as a drop at 4x)."""
    out = {}
    for mode, by_load in rows.items():
        if rounds and len(rounds) > 1:
            per = [share_at_4x(rnd[mode]) for rnd in rounds]
            per = [x for x in per if x is not None]
            if not per:
                continue
            share = bl.median([x[0] for x in per])
            p99 = bl.median([x[1] for x in per])
        else:
            got = share_at_4x(by_load)
            if got is None:
                continue
            share, p99 = got
        out[mode] = {"goodput_4x_over_peak": share, "p99_4x_ms": p99,
                     "met": share >= 0.8 and p99 <= threshold_ms}
    return out


# -- the run ------------------------------------------------------------------------------

def admission_modes(tuned: int, quick: bool) -> dict:
    """The admission section each mode sets (PATCH /admin/policy)."""
    modes = {"off": {"max_in_flight": OFF_MAX_IN_FLIGHT, "adaptive_limit": False},
             "default": {"max_in_flight": DEFAULT_MAX_IN_FLIGHT, "adaptive_limit": False},
             "tuned": {"max_in_flight": tuned, "adaptive_limit": False},
             "adaptive": {"max_in_flight": DEFAULT_MAX_IN_FLIGHT, "adaptive_limit": True}}
    if quick:
        del modes["default"]
    return modes


def mode_label(mode: str, admission: dict) -> str:
    """``tuned (16)``; ``adaptive (<=256)``: the cap, or the adaptive limit's ceiling."""
    cap = admission["max_in_flight"]
    return f"{mode} (<={cap})" if admission.get("adaptive_limit") else f"{mode} ({cap})"


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


def concurrency_limit(gateway: str) -> float | None:
    """The gateway's ``gateway_concurrency_limit`` gauge (the adaptive limit when on)."""
    import httpx

    try:  # right after a collapse the gateway may still be draining its backlog
        text = httpx.get(f"{gateway}/metrics", timeout=30).text
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


def settle(gateway: str, token: str, seconds: float, give_up_s: float = 30.0) -> bool:
    """Let a backlog drain, reset the gateway, wait for 3 fast model answers in a row.
    False if they did not come within ``give_up_s``: the next run would measure a broken
    stack, not an admission mode."""
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
                and took < 0.1 else 0
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


def run(duration: float, ramp_s: float, quick: bool, rounds: int = 3) -> dict:
    from gameday.load.capacity import default_slo_file, find_knee, slo_threshold_s
    from gameday.stack.local import Stack
    from gameday.stack.spec import build_spec

    threshold_s, slo_name = slo_threshold_s(default_slo_file())
    threshold_ms = threshold_s * 1000
    with tempfile.TemporaryDirectory() as tmp, \
            Stack(build_spec(free_ports=True), home=Path(tmp) / ".gameday") as stack:
        gateway, token = stack.url("gateway"), stack.token
        url = f"{gateway}/v1/classify"
        run_driver(url, 1.0, users=8)  # warm-up
        ramp = []
        users = 1
        factor = 8 if quick else 2
        while users <= (8 if quick else 128):
            res = run_driver(url, ramp_s, users=users)
            s = {"users": users, "duration_s": ramp_s,
                 **summarize(res["results"], ramp_s, threshold_s)}
            ramp.append(s)
            print(f"  ramp {users:>3} users: {s['ok'] / ramp_s:7.1f} ok/s, "
                  f"p99 {s['ok_p99_ms']:7.1f} ms", flush=True)
            if s["ok_p99_ms"] > threshold_ms * 2:
                break
            users *= factor
        steps = knee_steps(ramp)
        knee = find_knee(steps, threshold_ms)
        capacity = knee["knee_rps"] or max(s["rps"] for s in steps)
        tuned = tuned_in_flight(steps, threshold_ms)
        modes = admission_modes(tuned, quick)
        print(f"capacity (knee of p99 at {threshold_ms:g} ms): {capacity:.0f} rps; "
              f"tuned max_in_flight {tuned}", flush=True)
        by_round: list[dict] = []
        lags: dict = {m: {} for m in modes}
        limits: dict = {m: {} for m in modes}
        loads = (1, 4) if quick else LOADS
        stopped = None
        for k in range(rounds):
            rows: dict = {m: {} for m in modes}
            for mode in bl.rotated(list(modes), k):
                for load in loads:
                    set_admission(gateway, token, modes[mode])
                    if not settle(gateway, token, 0.5 if quick else 2.0):
                        stopped = (f"stopped in round {k + 1} before {load}x {mode}: the "
                                   f"gateway gave no 3 fast model answers in a row within "
                                   f"30 s of the last run; logs and upstreams in "
                                   f"{keep_evidence(stack, gateway, token)}")
                        print(f"  {stopped}", flush=True)
                        break
                    res = run_driver(url, duration, rate=capacity * load)
                    r = rows[mode][load] = summarize(res["results"], duration, threshold_s)
                    lags[mode].setdefault(load, []).append(res["lag_p99_ms"])
                    limit = concurrency_limit(gateway)
                    limits[mode].setdefault(load, []).append(limit)
                    print(f"  round {k + 1} {load}x {mode:>8}: goodput {r['goodput']:7.1f}/s, "
                          f"admitted p99 {r['admitted_p99_ms']:7.1f} ms, shed {r['shed_429']}, "
                          f"errors {r['errors']}, fallbacks {r['fallbacks']}, generator lag "
                          f"p99 {res['lag_p99_ms']:.0f} ms, limit at the end {limit}",
                          flush=True)
                if stopped:
                    break
            if stopped:
                break  # the unfinished round is left out
            by_round.append(rows)
    if not by_round:
        raise SystemExit(f"bench_overload: no round completed; {stopped}")
    rows = median_rows(by_round)
    return {"threshold_ms": threshold_ms, "slo": slo_name, "ramp": ramp, "knee": knee,
            "capacity_rps": capacity, "admission": modes,
            "max_in_flight": {m: a["max_in_flight"] for m, a in modes.items()},
            "rounds": by_round, "rows": rows, "generator_lag_p99_ms": lags,
            "limit_at_end": limits, "verdicts": verdicts(rows, threshold_ms, by_round),
            "duration_s": duration, "stopped": stopped}


def report(res: dict) -> str:
    rows = []
    # Results from before the adaptive mode have only max_in_flight per mode.
    admission = res.get("admission") or {m: {"max_in_flight": cap}
                                         for m, cap in res["max_in_flight"].items()}
    for mode, by_load in res["rows"].items():
        peak = max(r["goodput"] for r in by_load.values())
        for load, r in sorted(by_load.items(), key=lambda kv: int(kv[0])):
            rows.append([mode_label(mode, admission[mode]), f"{load}x",
                         r["rps"], r["goodput"], bl.pct(bl.ratio(r["goodput"], peak), 0),
                         r["admitted_p99_ms"], r["shed_429"], r["fallbacks"], r["errors"]])
    text = bl.markdown_table(["admission (max_in_flight)", "load", "sent/s", "goodput/s",
                              "of peak", "p99 admitted ms", "shed 429", "fallbacks",
                              "errors"], rows)
    lines = [text]
    for mode, v in res["verdicts"].items():
        head = (f"{mode}: goodput at 4x = {bl.pct(v['goodput_4x_over_peak'], 0)} of peak, "
                f"p99 of admitted {v['p99_4x_ms']:.0f} ms (threshold {res['threshold_ms']:g} ms)")
        per = [share_at_4x(rnd[mode]) for rnd in res.get("rounds") or () if mode in rnd]
        if len(per) > 1:
            head += " (per round: " + ", ".join(
                f"{bl.pct(x[0], 0)} / {x[1]:.0f} ms" for x in per if x) + ")"
        if mode == "off":  # no shedding: the target is to show the collapse
            lines.append(f"{head}: collapse {'NOT shown' if v['met'] else 'shown'}")
        else:
            lines.append(f"{head}: {bl.verdict(v['met'])}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: ramp 1 and 8 users, 1.5 s runs, 1x and 4x, "
                             "off/tuned/adaptive")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--ramp-step", type=float, default=3.0, help="seconds per ramp step")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every mode at 1x, 2x, 4x (medians reported)")
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
    res = run(args.duration, args.ramp_step, args.quick, args.rounds)
    print(f"gateway POST /v1/classify, SLO {res['slo']} threshold {res['threshold_ms']:g} ms, "
          f"capacity {res['capacity_rps']:.0f} rps, open loop {res['duration_s']:g} s per run, "
          f"medians of {len(res['rounds'])} rounds")
    print(report(res))
    if res["stopped"]:
        print(f"NOT all rounds measured: {res['stopped']}")
    if not args.quick:
        bl.save_json("overload.json", res)


if __name__ == "__main__":
    main()
