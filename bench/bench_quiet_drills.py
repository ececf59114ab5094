"""Quiet drills: no alert before the fault, the scenario's own alert after it.

Issue 14, "What to build" 2: 20 drills in a row (every scenario of `gameday drill list`,
twice, `--auto`) with zero alerts before the fault.

Each drill runs ``gameday drill run SCENARIO --auto --no-outputs`` in a fresh temporary
folder, one at a time, and its ``<run>/timeline.jsonl`` (docs/timeline.md) is read:
``alert_firing`` events before the first ``fault_start`` are alerts in a steady state (none
is the target); an ``alert_firing`` of one of the scenario's alerts at or after the fault
is its detection. A drill with no ``fault_start`` never injected its fault (it could not
get quiet, or its steady state failed), which counts as a failure too.

Exit status 1 if any drill had an alert before its fault or injected no fault;
``--require-detection`` also fails on a scenario whose expected alert did not fire.
``--quick`` runs one drill of one scenario (the bench smoke; about 2 minutes). Each drill
is also scored (verdict, lever grades, recovery after the lever: the calibration of
docs/scoring.md).

Run: .venv/bin/python bench/bench_quiet_drills.py [--repeat 2] [--scenarios a,b] [--quick]
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

GAMEDAY = str(Path(sys.executable).with_name("gameday"))
QUICK_SCENARIO = "xid-error-burst"
DRILL_TIMEOUT_S = 900


def scenarios() -> list[dict]:
    """Name and expected alerts of every scenario, as `gameday drill list` shows them."""
    out = subprocess.run([GAMEDAY, "drill", "list", "--json"], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return [{"name": s["name"], "alerts": list(s.get("alerts") or [])} for s in json.loads(out)]


def judge(events: list[dict], expected: list[str]) -> dict:
    """What one drill's timeline says about alerts before and after its fault."""
    fault = next((e["ts"] for e in events if e["kind"] == "fault_start"), None)
    fired = [e for e in events if e["kind"] == "alert_firing"]
    before = [e for e in fired if fault is None or e["ts"] < fault]
    after = [e for e in fired if fault is not None and e["ts"] >= fault]
    detection = next((e for e in after if e.get("alert") in expected), None)
    return {
        "fault_injected": fault is not None,
        "alerts_before_fault": len(before),
        "before": [f"{e.get('alert')} ({e.get('severity')})"
                   + ("" if fault is None else f" {e['ts'] - fault:+.1f} s") for e in before],
        "expected_fired": detection is not None,
        "detect_s": None if detection is None else round(detection["ts"] - fault, 1),
        "other_alerts_after": sorted({e.get("alert") for e in after
                                      if e.get("alert") not in expected}),
    }


def one_drill(name: str, expected: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="gameday-quiet-", ignore_cleanup_errors=True) as tmp:
        env = {**os.environ, "NO_COLOR": "1"}
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([GAMEDAY, "drill", "run", name, "--auto", "--no-outputs"],
                                  cwd=tmp, env=env, capture_output=True, text=True,
                                  timeout=DRILL_TIMEOUT_S)
            code, tail = proc.returncode, proc.stderr[-300:] or proc.stdout[-300:]
        except subprocess.TimeoutExpired:
            code, tail = None, f"timed out after {DRILL_TIMEOUT_S} s"
        wall = time.perf_counter() - t0
        runs = sorted((Path(tmp) / ".gameday" / "runs").glob("*/timeline.jsonl"))
        events = bl.read_timeline(runs[-1]) if runs else []
        scored = score_of(runs[-1].parent) if runs else {}
    return {"scenario": name, "expected": expected, "returncode": code, "wall_s": round(wall, 1),
            **judge(events, expected), **scored, "tail": tail if code else ""}


def score_of(run: Path) -> dict:
    """The drill's score (gameday.report, from its timeline and recording): the verdict, the
    phase times and the grade of each lever; ``recover_after_lever_s`` is how long the
    steady state took to come back after the first lever that helped (it calibrates the
    interactive limits, docs/scoring.md)."""
    try:
        from gameday.report import compute_score

        score = compute_score(run)
    except Exception as err:  # a drill that left no recording still counts for quietness
        return {"score_error": f"{type(err).__name__}: {err}"}
    phases, d = score["phases"], score["durations_s"]
    lag = (phases["recovered"] - phases["mitigated"]
           if phases.get("recovered") and phases.get("mitigated") else None)
    return {"verdict": score["verdict"]["result"], "points": score["points"]["percent"],
            "mitigate_s": _round(d.get("mitigate")), "recover_s": _round(d.get("recover")),
            "recover_after_lever_s": _round(lag),
            "grades": [f"{m['lever']}: {m['grade']}" for m in score["mitigations"]],
            "budget": {s["slo_id"]: s["budget_consumed_text"] for s in score["slos"]
                       if s.get("budget_consumed")}}


def _round(value):
    return None if value is None else round(value, 1)


def report(drills: list[dict]) -> str:
    rows = [[i + 1, d["scenario"], d["alerts_before_fault"], "; ".join(d["before"]) or "-",
             "yes" if d["fault_injected"] else "NO",
             "yes" if d["expected_fired"] else "no", d["detect_s"],
             ", ".join(d["other_alerts_after"]) or "-", d.get("mitigate_s"),
             d.get("recover_s"), d.get("recover_after_lever_s"),
             "; ".join(d.get("grades") or []) or "-", d.get("verdict", "-"), d["wall_s"]]
            for i, d in enumerate(drills)]
    table = bl.markdown_table(
        ["#", "scenario", "alerts before fault", "which", "fault", "expected alert after",
         "detect (s)", "other alerts after", "mitigate (s)", "recover (s)",
         "recover after lever (s)", "levers", "verdict", "wall (s)"], rows)
    before = sum(d["alerts_before_fault"] for d in drills)
    dirty = sum(1 for d in drills if d["alerts_before_fault"])
    faults = sum(1 for d in drills if d["fault_injected"])
    detected = sum(1 for d in drills if d["expected_fired"])
    return (f"{table}\n\n{len(drills)} drills: {before} alert(s) before a fault in {dirty} "
            f"drill(s) (target 0: {bl.verdict(before == 0)}); fault injected in {faults}; "
            f"the scenario's expected alert fired after the fault in {detected}.")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help=f"one drill of {QUICK_SCENARIO}")
    parser.add_argument("--repeat", type=int, default=2, help="drills per scenario")
    parser.add_argument("--scenarios", help="comma-separated names (default: all)")
    parser.add_argument("--require-detection", action="store_true",
                        help="also fail when a scenario's expected alert did not fire")
    args = parser.parse_args()
    catalog = scenarios()
    if args.quick:
        catalog, args.repeat = [s for s in catalog if s["name"] == QUICK_SCENARIO], 1
    elif args.scenarios:
        wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
        unknown = sorted(set(wanted) - {s["name"] for s in catalog})
        if unknown:
            parser.error(f"--scenarios: unknown {', '.join(unknown)}")
        catalog = [s for s in catalog if s["name"] in wanted]
    drills = []
    for _ in range(args.repeat):
        for s in catalog:
            drills.append(one_drill(s["name"], s["alerts"]))
            d = drills[-1]
            print(f"{len(drills)}. {d['scenario']}: {d['alerts_before_fault']} alert(s) before "
                  f"the fault, expected alert {'fired' if d['expected_fired'] else 'missing'}"
                  f" ({d['wall_s']:.0f} s)", flush=True)
    print(report(drills))
    if not args.quick:  # a run of some scenarios only does not replace the full record
        name = "quiet_drills-partial.json" if args.scenarios else "quiet_drills.json"
        bl.save_json(name, {"drills": drills, "repeat": args.repeat})
    failed = any(d["alerts_before_fault"] or not d["fault_injected"] for d in drills)
    if args.require_detection:
        failed = failed or not all(d["expected_fired"] for d in drills)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
