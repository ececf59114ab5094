"""gameday slo backtest against promtool's backfill of the same rules over the same data.

    .venv/bin/python bench/bench_backtest.py            # 1 h, 4 h and 24 h recordings
    .venv/bin/python bench/bench_backtest.py --quick    # 1 h only (CI's bench-quick)

For each length, a recording at 15 s is stitched (gameday.engine.stitch) from the shipped
quiet baseline segment with the feature-store-outage incident in the middle (else, on a
checkout without them, from the newest drill recording under .gameday/runs), then side by
side in one run:

- gameday: ``gameday slo backtest slos --from REC --catalog google-30d --eval-interval 15s``
  in a child process: wall time, CPU time, peak RSS (``os.wait4``);
- promtool: the steps of gameday.prometheus.backfill (OpenMetrics export, promtool
  create-blocks-from openmetrics, a Prometheus on the blocks, promtool create-blocks-from
  rules with slos/_gen/google-30d/*.rules.yml by dependency level, each level's blocks
  loaded by a restart), each measured the same way (Prometheus: peak RSS from
  /proc/<pid>/status VmHWM, CPU from its rusage);
- equal values: the backtest again in this process, each rule group at the offsets the
  backfill used (skipping the instants promtool skips at its two-hour block ends), then
  every recording rule's points near 50 sampled times compared with what the backfilled
  blocks answer (relative tolerance 1e-9, as tests/integration/test_slo_engine_agreement.py).

Prints time and memory per length for both, the ratios, and the growth from 1 h to 24 h
(linear: about 24). Without prometheus or promtool on PATH: SKIPPED, exit 0.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
import benchlib  # noqa: E402

from gameday import resources  # noqa: E402
from gameday.prometheus.backfill import (  # noqa: E402
    Step,
    backfill,
    compare,
    group_offsets,
    in_backfill_gap,
    run_measured,
    sampled_points,
)

ROOT = Path(__file__).resolve().parents[1]
CATALOG = "google-30d"
SAMPLES = 50
REL_TOL = 1e-9


def plan_for(hours: float) -> dict:
    """A stitch plan of about ``hours`` at 15 s."""
    try:
        quiet = resources.find_recording("quiet-baseline-segment")
        incident = resources.find_recording("feature-store-outage")
    except Exception:  # noqa: BLE001 - a checkout without the shipped recordings
        runs = sorted(ROOT.glob(".gameday/runs/*/recording.jsonl.gz"),
                      key=lambda p: p.stat().st_mtime)
        if not runs:
            raise SystemExit("no shipped recordings and no drill recording under .gameday/runs:"
                             " run 'gameday demo' once") from None
        return {"interval": "15s", "start": "2026-01-05T00:00:00Z",
                "segments": [{"recording": str(runs[-1]), "repeat_for": f"{hours * 60:g}m"}]}
    half = hours * 30
    return {"interval": "15s", "start": "2026-01-05T00:00:00Z", "segments": [
        {"recording": str(quiet), "slice": ["60s", "230s"], "repeat_for": f"{half:g}m"},
        {"recording": str(incident)},
        {"recording": str(quiet), "slice": ["60s", "230s"], "repeat_for": f"{half - 5:g}m"}]}


def make_recording(hours: float, folder: Path) -> Path:
    from gameday.engine.stitch import stitch

    plan = folder / f"plan-{hours:g}h.yaml"
    plan.write_text(yaml.safe_dump(plan_for(hours)))
    out = folder / f"recording-{hours:g}h.jsonl.gz"
    stitch(plan, out)
    return out


def span(recording: Path) -> tuple[float, float, int]:
    """First and last scrape times and the number of scrapes."""
    from gameday.slo.replay import RecordingStream

    stream = RecordingStream(recording)
    first = last = None
    n = 0
    for t, *_ in stream.scrapes():
        first = t if first is None else first
        last, n = t, n + 1
    stream.close()
    return first, last, n


def measure_backtest(recording: Path, log: Path) -> Step:
    return run_measured("gameday slo backtest", [
        str(ROOT / ".venv" / "bin" / "gameday"), "slo", "backtest", str(ROOT / "slos"),
        "--from", str(recording), "--catalog", CATALOG, "--eval-interval", "15s", "--quiet",
        "--json"], log)


def check_values(recording: Path, bf, rule_files: list[Path], first: float,
                 last: float) -> dict:
    """The backtest at the backfill's group offsets, compared at sampled times."""
    from gameday.engine.store import SampleStore
    from gameday.slo.backtest import run_backtest
    from gameday.slo.validate import collect_slos
    from gameday.slo.windows import load_catalog

    slos, errors = collect_slos([ROOT / "slos"])
    assert not errors, errors
    catalog = load_catalog(ROOT / "slos" / "windows", CATALOG)
    offsets = group_offsets(bf.server, rule_files, last, 15.0)
    store = SampleStore(max_age=catalog.period_s + 60, max_points=200_000)
    run_backtest(recording, slos, catalog, eval_interval=15.0, offsets=offsets, store=store,
                 skip=in_backfill_gap)
    times = [first + (last - first) * (i + 1) / (SAMPLES + 1) for i in range(SAMPLES)]
    points = sampled_points(bf.server, times, "15s")
    result = compare(store, points, times, 15.0, REL_TOL)
    result["offsets"] = offsets
    return result


def run_length(hours: float, folder: Path) -> dict:
    rec = make_recording(hours, folder)
    first, last, scrapes = span(rec)
    log = folder / f"steps-{hours:g}h.log"
    gameday = measure_backtest(rec, log)
    rule_files = sorted((ROOT / "slos" / "_gen" / CATALOG).glob("*.rules.yml"))
    bf = backfill(rec, rule_files, folder / f"promtool-{hours:g}h", first, last, "15s")
    try:
        values = check_values(rec, bf, rule_files, first, last)
    finally:
        bf.steps.append(bf.server.stop_step("prometheus (last)"))
    total = bf.total()
    return {"hours": (last - first) / 3600, "scrapes": scrapes, "levels": bf.levels,
            "gameday": vars(gameday), "promtool_steps": [vars(s) for s in bf.steps],
            "promtool": vars(total),
            "promtool_without_export": vars(bf.total(skip=("export",))),
            "values": values}


def report(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        lines.append(f"\n### {r['hours']:.2f} h at 15 s ({r['scrapes']} scrapes), promtool "
                     f"backfill in {r['levels']} dependency levels")
        table = [[s["name"], f"{s['wall_s']:.1f}", f"{s['cpu_s']:.1f}",
                  f"{s['peak_rss_mb']:.0f}"] for s in r["promtool_steps"]]
        g, p, q = r["gameday"], r["promtool"], r["promtool_without_export"]
        table += [["**promtool route, total**", f"{p['wall_s']:.1f}", f"{p['cpu_s']:.1f}",
                   f"{p['peak_rss_mb']:.0f}"],
                  ["(without the OpenMetrics export)", f"{q['wall_s']:.1f}",
                   f"{q['cpu_s']:.1f}", f"{q['peak_rss_mb']:.0f}"],
                  ["**gameday slo backtest**", f"{g['wall_s']:.1f}", f"{g['cpu_s']:.1f}",
                   f"{g['peak_rss_mb']:.0f}"],
                  ["promtool / gameday", f"{p['wall_s'] / g['wall_s']:.2f}x",
                   f"{p['cpu_s'] / g['cpu_s']:.2f}x", "-"]]
        lines.append(benchlib.markdown_table(["step", "wall s", "CPU s", "peak RSS MB"],
                                             table))
        v = r["values"]
        lines.append(f"\nvalues: {v['compared']} backfilled points compared, {v['equal']} "
                     f"equal within {REL_TOL:g} (worst relative difference "
                     f"{v['worst_rel']:.2g}); {v['only_backfill']} only in the backfill, "
                     f"{v['only_backtest']} only in the backtest, {v['gaps']} in promtool's "
                     f"block-end gaps (evaluation instants it skips, not compared)")
        for m in v["mismatches"][:5]:
            lines.append(f"  mismatch: {m}")
    if len(rows) > 1:
        steps = [(rows[k], rows[k + 1]) for k in range(len(rows) - 1)]
        pairs = [(rows[0], rows[-1])] + (steps if len(rows) > 2 else [])
        grow = []
        for a, b in pairs:
            for who in ("gameday", "promtool"):
                grow.append([f"{a['hours']:.0f} h -> {b['hours']:.0f} h",
                             f"x{b['hours'] / a['hours']:.1f}", who]
                            + [f"x{b[who][k] / a[who][k]:.1f}" if a[who][k] else "-"
                               for k in ("wall_s", "cpu_s", "peak_rss_mb")])
        lines.append("\ngrowth (linear: as the data; each figure includes the fixed start "
                     "of its processes):")
        lines.append(benchlib.markdown_table(["lengths", "data", "engine", "wall", "CPU",
                                              "peak RSS"], grow))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 h only")
    parser.add_argument("--hours", default=None, help="comma-separated lengths (default "
                        "1,4,24)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    for binary in ("prometheus", "promtool"):
        if shutil.which(binary) is None:
            print(f"SKIPPED bench_backtest: {binary} is not installed")
            return 0
    hours = [1.0] if args.quick else [float(h) for h in (args.hours or "1,4,24").split(",")]
    folder = Path(tempfile.mkdtemp(prefix="gameday-bench-backtest-"))
    rows = []
    began = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        for h in hours:
            print(f"-- {h:g} h ...", flush=True)
            rows.append(run_length(h, folder))
            print(report(rows[-1:]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"kept {folder}")
    print(f"\n## bench_backtest ({began})" + report(rows))
    if not args.quick:
        benchlib.save_json("backtest.json", {"started": began, "rows": rows})
    bad = [r for r in rows if r["values"]["equal"] != r["values"]["compared"]
           or r["values"]["only_backfill"] or r["values"]["only_backtest"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
