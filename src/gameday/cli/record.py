"""``gameday record``: record the live stack under a load profile, faults on a schedule."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from gameday import display
from gameday.durations import format_duration
from gameday.record.schedule import load_schedule
from gameday.record.session import Progress, RecordOptions, RecordSession, validate_options

from .params import parse_duration
from .render import make_console, relative

PROGRESS_EVERY_S = 10.0  # without a terminal: one progress line this often


def _line(p: Progress) -> str:
    if p.elapsed_s < 0:
        return f"warming up: the load runs {-p.elapsed_s:3.0f}s more before the recording starts"
    faults = "; ".join(p.active_faults) or "none"
    return (f"recording {p.elapsed_s:5.0f}s / {format_duration(p.total_s)}  scrapes "
            f"{p.scrapes} ({p.failed} failed)  series {p.series}  faults: {faults}")


def record(
    out: Path = typer.Option(..., "-o", "--out", help="The recording to write (.jsonl.gz)."),
    duration: str = typer.Option("10m", "--duration", help="How long to record: 90s, 5m."),
    load: str = typer.Option("steady", "--load",
                             help="Load profile (steady, ramp, spike, soak, mix) or 'none'."),
    users: int = typer.Option(10, "--users", "--rate", help="Users of the load profile."),
    faults: Path = typer.Option(None, "--faults",
                                help="Fault schedule (YAML: - at: 2m, for: 90s, fault: {...})."),
    interval: str = typer.Option("1s", "--interval", help="Scrape interval."),
    warmup: str = typer.Option("15s", "--warmup",
                               help="Load before the recording starts (0: none)."),
    attach: str = typer.Option(None, "--attach",
                               help="Record a running run (id or folder) instead of starting "
                                    "a stack of its own on free ports."),
    sets: list[str] = typer.Option(None, "--set",
                                   help="SERVICE.KEY=VALUE for the stack it starts."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Record every target's scrapes of the live stack into a recording, under load, with
    faults applied on a schedule. Ctrl-C stops early and keeps what was recorded."""
    duration_s = parse_duration(duration, where="--duration")
    opts = RecordOptions(
        out=out, duration_s=duration_s, profile=None if load == "none" else load,
        users=users, interval_s=parse_duration(interval, where="--interval"),
        attach=attach, force=force, sets=tuple(sets or ()),
        warmup_s=0.0 if warmup.strip() in ("0", "0s") else parse_duration(warmup,
                                                                          where="--warmup"),
        schedule=load_schedule(faults, duration_s) if faults is not None else [],
        schedule_file=str(faults) if faults is not None else None)
    validate_options(opts)
    console = make_console(stderr=True)
    for step in opts.schedule:
        console.print(f"fault planned: {step.describe()}", highlight=False)
    last = [0.0]

    def show(p: Progress) -> None:
        now = time.monotonic()
        if console.is_terminal:
            console.print(_line(p), end="\r", highlight=False, soft_wrap=True)
        elif now - last[0] >= PROGRESS_EVERY_S:
            console.print(_line(p), highlight=False, soft_wrap=True)
        else:
            return
        last[0] = now

    console.print(("attaching to run " + attach) if attach else
                  "starting a stack on free ports...", highlight=False)
    try:
        result = RecordSession(opts).run(on_progress=show)
    except KeyboardInterrupt:
        typer.echo("interrupted (Ctrl-C) before the recording started: nothing written",
                   err=True)
        raise typer.Exit(130) from None
    if console.is_terminal:
        console.print()
    size = result.out.stat().st_size
    what = (f"interrupted (Ctrl-C): kept {result.recorded_s:.0f}s of the planned "
            f"{format_duration(duration_s)}" if result.interrupted
            else f"recorded {result.recorded_s:.0f}s")
    typer.echo(f"{what}: {relative(result.out)} ({display.size(size)}, {result.scrapes} "
               f"scrapes, {result.failed} failed, {result.series} series, "
               f"{result.faults_applied} fault(s) applied; run {result.run_id})")


def register(app: typer.Typer) -> None:
    app.command("record")(record)
