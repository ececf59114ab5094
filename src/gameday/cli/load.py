"""``gameday load run|capacity|stop``: Locust against the gateway, in its own process."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gameday.errors import GamedayError
from gameday.load import capacity as cap
from gameday.load import runner
from gameday.load.profiles import PROFILES, validate_profile
from gameday.load.stats import Progress

from .params import parse_duration
from .render import make_console, relative

app = typer.Typer(help="Generate load on the gateway with Locust (its own process).",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
RUN_OPTION = typer.Option(None, "--run", help="Run id (default: the current run).")
HOST_OPTION = typer.Option(None, "--host", help="Target URL (default: the run's gateway).")
OUT_OPTION = typer.Option(None, "--out", help="Output folder (default: <run>/load/<ts>-<name>/).")
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable result on stdout.")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def progress_line(row: Progress | None, elapsed_s: float, total_s: float, what: str) -> Text:
    head = f"{what}  {elapsed_s:4.0f}s / {total_s:g}s  "
    if row is None:
        return Text(head + "starting Locust...")
    return Text(head + f"users {row.users}  {row.rps:7.1f} req/s  requests {row.requests}  "
                f"failures {row.failures} ({row.failures_per_s:.1f}/s)  "
                f"p50 {_ms(row.p50_ms)}  p95 {_ms(row.p95_ms)}")


def follow(handle: runner.LoadHandle, total_s: float, what: str, render=None) -> bool:
    """Show live progress until Locust exits; Ctrl-C stops it cleanly. True if interrupted."""
    console = make_console(stderr=True)
    start = time.monotonic()

    def view():
        rows = handle.progress()
        line = progress_line(rows[-1] if rows else None, time.monotonic() - start, total_s, what)
        return render(line) if render else line

    interrupted = False
    # With a custom view (capacity) the final table is printed afterwards: no stale copy.
    with Live(view(), console=console, refresh_per_second=2, transient=render is not None) as live:
        try:
            while handle.running():
                time.sleep(0.5)
                live.update(view())
        except KeyboardInterrupt:
            interrupted = True
            live.update(Text(f"{what}: stopping Locust (Ctrl-C)..."))
            handle.stop()
        live.update(view())
    if not console.is_terminal and render is None:
        console.print()  # the last frame has no newline of its own
    return interrupted


def _check_exit(handle: runner.LoadHandle) -> None:
    code = handle.wait(5)
    if code not in (0, 1, None) and not Path(f"{handle.prefix}_stats.csv").exists():
        raise GamedayError(f"Locust exited with {code} and wrote no stats; see "
                           f"{relative(handle.out_dir / 'locust.log')}")


def stats_table(stats: dict) -> Table:
    table = Table()
    for col in ("request", "requests", "failures", "p50", "p95", "p99", "req/s"):
        table.add_column(col, justify="left" if col == "request" else "right")
    rows = stats["entries"] + ([stats["total"]] if stats["total"] else [])
    for e in rows:
        table.add_row(f"{e['method']} {e['name']}".strip(), str(e["requests"]),
                      str(e["failures"]), _ms(e["median_ms"]), _ms(e["p95_ms"]),
                      _ms(e["p99_ms"]), f"{e['rps']:.1f}")
    return table


@app.command("run")
def run(
    profile: str = typer.Option("steady", "--profile", help=f"One of {', '.join(PROFILES)}."),
    users: int = typer.Option(10, "--users", "-u", help="Users (the shape's peak)."),
    duration: str = typer.Option("60s", "--duration", "-t", help="How long: 30s, 2m."),
    host: str = HOST_OPTION,
    run_id: str = RUN_OPTION,
    out: Path = OUT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Run a load profile against the gateway with live progress; stats go to the run folder."""
    validate_profile(profile)
    duration_s = parse_duration(duration, where="--duration")
    runner.validate_load(users, duration_s)
    handle = runner.start_load(profile, users, duration_s, host=host, out_dir=out, run=run_id)
    interrupted = follow(handle, duration_s, f"load {profile}")
    _check_exit(handle)
    stats = handle.stats()
    if as_json:
        typer.echo(json.dumps({**stats, "interrupted": interrupted}, indent=2))
        return
    console = make_console()
    console.print(stats_table(stats))
    console.print(f"{'stopped early; ' if interrupted else ''}files in "
                  f"{relative(handle.out_dir)}/ (locust_stats.csv, locust.json, report.html)")


def steps_table(steps: list[dict], threshold_ms: float) -> Table:
    table = Table(title=f"classify p99 threshold {threshold_ms:g} ms")
    for col in ("users", "req/s", "served/s", "p50", "p95", "p99", "requests", "failures"):
        table.add_column(col, justify="right")
    for s in steps:
        style = "red" if s.get("over_slo") or s.get("too_many_failures") else None
        table.add_row(str(s["users"]), f"{s['rps']:.1f}", f"{cap.served(s):.1f}",
                      _ms(s["p50_ms"]), _ms(s["p95_ms"]), _ms(s["p99_ms"]),
                      str(s["requests"]), str(s["failures"]), style=style)
    return table


@app.command("capacity")
def capacity(
    start_users: int = typer.Option(5, "--start-users", help="Users of the first step."),
    step_users: int = typer.Option(5, "--step-users", help="Users added per step."),
    step_time: str = typer.Option("10s", "--step-time", help="Length of a step."),
    max_users: int = typer.Option(100, "--max-users", help="Stop after this many users."),
    max_time: str = typer.Option("2m", "--max-time", help="Stop after this long."),
    slo_file: Path = typer.Option(None, "--slo-file", help="SLO spec with the classify latency "
                                  "SLO (default: slos/gateway.yaml)."),
    host: str = HOST_OPTION,
    run_id: str = RUN_OPTION,
    out: Path = OUT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add classify users step by step until p99 crosses the latency SLO; report the knee
    (throughput stops following the users) and the SLO limit (p99 over the threshold)."""
    step_s = parse_duration(step_time, where="--step-time")
    plan = cap.validate_plan(cap.CapacityPlan(
        start_users=start_users, step_users=step_users, step_s=step_s,
        settle_s=min(2.0, step_s / 4), max_users=max_users,
        max_time_s=parse_duration(max_time, where="--max-time")))
    slo_file = slo_file or cap.default_slo_file()
    threshold_s, slo_name = cap.slo_threshold_s(slo_file)
    handle = cap.start_capacity(plan, threshold_s, host=host, out_dir=out, run=run_id)

    def render(line):
        grid = Table.grid()
        grid.add_row(steps_table(cap.read_steps(handle.out_dir / cap.STEPS_FILE),
                                 threshold_s * 1000))
        grid.add_row(line)
        return grid

    interrupted = follow(handle, plan.max_time_s, "capacity", render=None if as_json else render)
    _check_exit(handle)
    report = {**cap.capacity_report(handle, threshold_s), "slo": slo_name,
              "slo_file": str(slo_file), "interrupted": interrupted}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console = make_console()
    console.print(steps_table(report["steps"], report["threshold_ms"]))
    if report["knee_rps"] is not None:
        console.print(f"knee: about {report['knee_rps']:g} req/s, where throughput stops "
                      f"following the users: {report['knee_reason']}")
    else:
        console.print(f"no knee found: {report['knee_reason']}")
    if report["slo_rps"] is not None:
        console.print(f"SLO limit: about {report['slo_rps']:g} req/s (p99 crosses "
                      f"{report['threshold_ms']:g} ms of SLO {slo_name!r}; {report['reason']})")
    else:
        console.print(f"no SLO limit found: {report['reason']}")
    console.print(f"files in {relative(handle.out_dir)}/")


@app.command("stop")
def stop(run_id: str = RUN_OPTION) -> None:
    """Stop the run's Locust processes still going (started by any process)."""
    pids = runner.stop_load(run_id)
    typer.echo(f"stopped Locust pid(s) {', '.join(map(str, pids))}" if pids
               else "no load running")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="load")
