"""Drill turnaround: wall time of the default automatic drill (`gameday demo`).

Issue 7, target 6: under 3 minutes.

Each round runs ``gameday demo`` (the default scenario, --auto responder; what `make demo`
runs) in a fresh temporary folder and times it from launch to exit. The drill's own
timeline (``<run>/timeline.jsonl``) splits the time into phases, so a miss names the phase
that costs it: stack start, steady state before the fault, fault to page, page to
mitigation, mitigation to recovery, teardown, and the outputs (report, charts, postmortem).

``--quick`` does not run a drill (about a minute): it times ``gameday drill list`` and
``gameday drill show`` as a smoke check of the entry points.

Run: .venv/bin/python bench/bench_drill.py [--quick] [--rounds 1]
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

TARGET_S = 180.0
GAMEDAY = str(Path(sys.executable).with_name("gameday"))
# (phase, from event kind, to event kind); "launch" and "exit" are the command's own times.
PHASES = [
    ("stack start (launch to run_start)", "launch", "run_start"),
    ("steady state before the fault", "run_start", "fault_start"),
    ("fault to page (detection)", "fault_start", "page"),
    ("page to mitigation", "page", "mitigation"),
    ("mitigation to recovery", "mitigation", "recovered"),
    ("recovery to run_end (teardown)", "recovered", "run_end"),
    ("outputs (run_end to exit)", "run_end", "exit"),
]


def first_times(events: list[dict]) -> dict[str, float]:
    """Time of the first event of each kind."""
    out: dict[str, float] = {}
    for e in events:
        out.setdefault(e["kind"], e["ts"])
    return out


def phases(events: list[dict], launch: float, exit_: float) -> list[tuple[str, float | None]]:
    """Seconds per phase (None when an event is missing: the drill went another way)."""
    t = {**first_times(events), "launch": launch, "exit": exit_}
    return [(name, t[b] - t[a] if a in t and b in t else None) for name, a, b in PHASES]


def one_drill() -> dict:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        env = {**os.environ, "NO_COLOR": "1"}
        launch = time.time()
        t0 = time.perf_counter()
        proc = subprocess.run([GAMEDAY, "demo"], cwd=tmp, env=env, capture_output=True,
                              text=True, timeout=900)
        wall = time.perf_counter() - t0
        exit_ = time.time()
        runs = sorted((Path(tmp) / ".gameday" / "runs").glob("*/timeline.jsonl"))
        events = bl.read_timeline(runs[-1]) if runs else []
        score = {}
        if runs and (runs[-1].parent / "score.json").is_file():
            score = json.loads((runs[-1].parent / "score.json").read_text())
    verdict = score.get("verdict") if isinstance(score, dict) else None
    if isinstance(verdict, dict):
        verdict = verdict.get("result")
    return {"wall_s": wall, "returncode": proc.returncode, "phases": phases(events, launch,
            exit_), "drill_verdict": verdict, "stderr_tail": proc.stderr[-400:]}


def report(rounds: list[dict]) -> str:
    walls = [r["wall_s"] for r in rounds]
    med = bl.median(walls)
    rows = [[name, *[r["phases"][i][1] for r in rounds]] for i, (name, _, _) in
            enumerate(PHASES)]
    rows.append(["total wall time", *walls])
    head = ["phase (s)", *[f"round {k + 1}" for k in range(len(rounds))]]
    text = bl.markdown_table(head, rows)
    codes = ", ".join(str(r["returncode"]) for r in rounds)
    return (f"{text}\n`gameday demo` wall time: median {med:.1f} s, ratio to the "
            f"{TARGET_S:.0f} s target {med / TARGET_S:.2f}: {bl.verdict(med < TARGET_S)} "
            f"(exit codes {codes}; drill verdicts "
            f"{', '.join(str(r['drill_verdict']) for r in rounds)})")


def quick() -> None:
    for args in (["drill", "list"], ["drill", "show", "xid-error-burst"]):
        t0 = time.perf_counter()
        subprocess.run([GAMEDAY, *args], check=True, capture_output=True, timeout=60)
        print(f"gameday {' '.join(args)}: {time.perf_counter() - t0:.2f} s")
    print("(--quick: no drill run; the full mode runs `gameday demo`, about a minute)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="entry points only, no drill")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if args.quick:
        quick()
        return
    rounds = [one_drill() for _ in range(args.rounds)]
    print(report(rounds))
    bl.save_json("drill.json", {"rounds": rounds, "target_s": TARGET_S})


if __name__ == "__main__":
    main()
