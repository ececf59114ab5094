"""Footprint of the local stack: `gameday up` to all ready, and memory under steady load.

Issue 7, target 4: from `gameday up` to all ready in under 5 s, and total RSS of the stack
under steady load under 1 GiB (the OpenTelemetry demo asks for 5-6 GiB).

Each round, in a fresh temporary folder:
1. ``gameday up --detach --free-ports`` (the CLI a learner types; it exits once every
   process is ready): wall time of the command, beside the floor of five bare uvicorn apps
   started at once (bench_stack_startup.bare_ready_s), interleaved.
2. Memory of the supervisor (``gameday.stack.daemon``, with the embedded SLO engine) and
   all its children (psutil, recursively; Locust is not part of the stack and is left
   out): idle, then sampled every 0.5 s while ``gameday load run --profile steady`` (Locust,
   10 users, as a drill runs) drives the gateway. RSS counts shared pages once per process,
   so the sum overstates; PSS (shared pages split between sharers) is given beside it.
3. ``gameday down``.

Run: .venv/bin/python bench/bench_footprint.py [--quick] [--rounds 3 --load-s 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

GIB = 1024 ** 3
MIB = 1024 ** 2
UP_TARGET_S = 5.0
GAMEDAY = str(Path(sys.executable).with_name("gameday"))


def stack_processes(supervisor_pid: int) -> list:
    """The supervisor and every process under it, Locust excluded."""
    import psutil

    root = psutil.Process(supervisor_pid)
    procs = [root, *root.children(recursive=True)]
    return [p for p in procs if "locust" not in " ".join(p.cmdline())]


def memory(procs: list) -> dict:
    """Total RSS and PSS in bytes, and RSS per process (name -> bytes)."""
    import psutil

    rss = pss = 0
    per = {}
    for p in procs:
        try:
            info = p.memory_full_info()
            name = " ".join(p.cmdline()[1:3]).replace("-m ", "")
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
        per[f"{name} [{p.pid}]"] = info.rss
    return {"rss": rss, "pss": pss, "per_process": per}


def summarize_samples(samples: list[dict]) -> dict:
    """Median and max of total RSS/PSS samples, in MiB."""
    rss = [s["rss"] / MIB for s in samples]
    pss = [s["pss"] / MIB for s in samples]
    return {"n": len(samples), "rss_median_mib": bl.median(rss),
            "rss_max_mib": max(rss) if rss else float("nan"),
            "pss_median_mib": bl.median(pss), "pss_max_mib": max(pss) if pss else float("nan")}


def one_round(load_s: float) -> dict:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        env = {**os.environ, "NO_COLOR": "1"}
        t0 = time.perf_counter()
        subprocess.run([GAMEDAY, "up", "--detach", "--free-ports"], cwd=tmp, env=env,
                       check=True, capture_output=True, timeout=120)
        up_s = time.perf_counter() - t0
        try:
            state = json.loads(subprocess.run([GAMEDAY, "status", "--json"], cwd=tmp, env=env,
                                              check=True, capture_output=True, text=True,
                                              timeout=60).stdout)
            procs = stack_processes(state["supervisor_pid"])
            internal = state["ready_at"] - state["started_at"]
            time.sleep(1.0)
            idle = memory(procs)
            load = subprocess.Popen([GAMEDAY, "load", "run", "--profile", "steady",
                                     "--users", "10", "--duration", f"{load_s:g}s", "--json"],
                                    cwd=tmp, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
            samples: list[dict] = []
            time.sleep(min(3.0, load_s / 4))  # users spawn, caches fill
            while load.poll() is None:
                samples.append(memory(procs))
                time.sleep(0.5)
            out = load.stdout.read()
            try:
                locust = json.loads(out)
            except ValueError:
                locust = {"raw": out[-500:]}
            peak = max(samples, key=lambda s: s["rss"]) if samples else idle
        finally:
            t1 = time.perf_counter()
            subprocess.run([GAMEDAY, "down"], cwd=tmp, env=env, capture_output=True,
                           timeout=120)
            down_s = time.perf_counter() - t1
    return {"up_s": up_s, "supervisor_ready_s": internal, "down_s": down_s,
            "idle": {"rss_mib": idle["rss"] / MIB, "pss_mib": idle["pss"] / MIB},
            "load": summarize_samples(samples), "peak_per_process_mib":
            {k: v / MIB for k, v in peak["per_process"].items()}, "locust": locust}


def load_line(locust: dict) -> str:
    """What the steady load did, from `gameday load run --json`'s total row."""
    total = locust.get("total") or {}
    if not total:
        return "no stats"
    return (f"{total.get('rps', 0):.1f} req/s, {total.get('failures', 0)} failures, "
            f"p99 {total.get('p99_ms')} ms")


def verdicts(up_s: float, rss_max_mib: float) -> dict:
    return {"up_met": up_s < UP_TARGET_S, "rss_met": rss_max_mib * MIB < GIB}


def report(rounds: list[dict], bare: list[float]) -> str:
    up = bl.median([r["up_s"] for r in rounds])
    sup = bl.median([r["supervisor_ready_s"] for r in rounds])
    b = bl.median(bare)
    rss_max = max(r["load"]["rss_max_mib"] for r in rounds)
    pss_max = max(r["load"]["pss_max_mib"] for r in rounds)
    idle = bl.median([r["idle"]["rss_mib"] for r in rounds])
    v = verdicts(up, rss_max)
    rows = [
        ["`gameday up --detach` to exit (all ready)", f"{up:.2f} s",
         ", ".join(f"{r['up_s']:.2f}" for r in rounds), f"< {UP_TARGET_S:g} s",
         bl.verdict(v["up_met"])],
        ["... of which supervisor start to all ready (stack.json)", f"{sup:.2f} s",
         ", ".join(f"{r['supervisor_ready_s']:.2f}" for r in rounds), "", ""],
        ["5 bare uvicorn apps to /healthz (floor)", f"{b:.2f} s",
         ", ".join(f"{x:.2f}" for x in bare), "", ""],
        ["ratio up / bare floor", f"{bl.ratio(up, b):.2f}", "", "", ""],
        ["RSS of the stack, idle", f"{idle:.0f} MiB",
         ", ".join(f"{r['idle']['rss_mib']:.0f}" for r in rounds), "", ""],
        ["RSS of the stack under steady load, max", f"{rss_max:.0f} MiB",
         ", ".join(f"{r['load']['rss_max_mib']:.0f}" for r in rounds), "< 1024 MiB",
         bl.verdict(v["rss_met"])],
        ["PSS of the stack under steady load, max", f"{pss_max:.0f} MiB",
         ", ".join(f"{r['load']['pss_max_mib']:.0f}" for r in rounds), "", ""],
        ["ratio RSS under load / 1 GiB", f"{rss_max * MIB / GIB:.2f}", "", "", ""],
    ]
    text = bl.markdown_table(["measure", "median (max for memory)", "rounds", "target",
                              "verdict"], rows)
    loads = [load_line(r.get("locust") or {}) for r in rounds]
    text += "\nsteady load (Locust, 10 users) per round: " + "; ".join(loads)
    per = rounds[-1]["peak_per_process_mib"]
    text += "\nRSS per process at the peak of the last round (MiB): " + ", ".join(
        f"{k.split(' [')[0]} {v:.0f}" for k, v in per.items())
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 round, 5 s of load")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load-s", type=float, default=20.0)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.load_s = 1, 5.0
    from bench_stack_startup import bare_ready_s

    rounds, bare = [], []
    for _ in range(args.rounds):  # interleaved with the floor
        rounds.append(one_round(args.load_s))
        bare.append(bare_ready_s())
    print(report(rounds, bare))
    if not args.quick:
        bl.save_json("footprint.json", {"rounds": rounds, "bare_s": bare})


if __name__ == "__main__":
    main()
