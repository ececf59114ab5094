"""``gameday recording info|stitch|export|import``: look into recordings, stitch long ones
from segments, and convert them to and from OpenMetrics text (for promtool)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from gameday.display import size, utc
from gameday.errors import ValidationError
from gameday.userfiles import write_into_place

app = typer.Typer(help="Recordings: info, stitch a long one from segments, export to and "
                       "import from OpenMetrics text.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)


def _when(t: float | None) -> str:
    return "-" if t is None else f"{utc(t)} UTC"


class _Progress:
    """One line on stderr, rewritten in place on a terminal, else every 10 % done."""

    def __init__(self, label: str) -> None:
        self.label, self.tty = label, sys.stderr.isatty()
        self.started, self.shown = time.monotonic(), -1

    def __call__(self, done: float, total: float) -> None:
        pct = int(100 * done / total) if total > 0 else 100
        if pct == self.shown or (not self.tty and pct // 10 == self.shown // 10 and pct < 100):
            return
        self.shown = pct
        line = f"{self.label}: {pct:3d}% ({done:.0f}s of {total:.0f}s, " \
               f"{time.monotonic() - self.started:.1f}s elapsed)"
        typer.echo(("\r" + line) if self.tty else line, err=True, nl=not self.tty)

    def close(self) -> None:
        if self.tty and self.shown >= 0:
            typer.echo("", err=True)


@app.command("info")
def info(
    recording: str = typer.Argument(..., help="A recording: a path or a shipped name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Duration, interval, targets, series, samples, provenance and size of a recording."""
    from gameday.engine.recording import describe_recording
    from gameday.resources import find_recording

    facts = describe_recording(find_recording(recording))
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    per_scrape = facts["samples"] / max(1, facts["scrapes"] - facts["failed_scrapes"])
    lines = [
        f"recording  {facts['path']} ({size(facts['bytes'])}, "
        f"{facts['bytes'] / max(1, facts['samples']):.2f} bytes/sample)",
        f"span       {_when(facts['first_t'])} -> {_when(facts['last_t'])} "
        f"({facts['duration_s']:.0f}s)",
        f"interval   {facts['interval_s']}s",
        f"scrapes    {facts['scrapes']} ({facts['failed_scrapes']} failed)",
        f"series     {facts['series']}",
        f"samples    {facts['samples']} ({per_scrape:.0f} per scrape)",
        f"targets    {len(facts['targets'])}: " + ", ".join(
            f"{t['job']}@{t['instance']}" for t in facts["targets"]),
    ]
    prov = facts["provenance"]
    if not prov:
        lines.append("provenance recorded (a plain recording)")
    elif prov.get("stitched"):
        lines.append(f"provenance stitched by plan {prov.get('plan')}, "
                     f"{len(prov.get('segments', []))} segment(s):")
        for seg in prov.get("segments", []):
            lines.append(f"  {_when(seg['from'])} +{seg['to'] - seg['from']:.0f}s  "
                         f"{seg['source']} [{seg['source_to'] - seg['source_from']:.0f}s"
                         f" x{seg['repeat']}]  sha256 {seg['sha256'][:12]}")
    elif prov.get("recorded"):
        load = prov.get("load") or {}
        faults = (prov.get("fault_schedule") or {}).get("faults") or []
        lines.append(f"provenance recorded by {prov.get('tool', 'gameday')} "
                     f"(gameday {prov.get('gameday_version', '?')}): load "
                     f"{load.get('profile', 'none')} x{load.get('users', 0)} users, "
                     f"{len(faults)} fault(s) scheduled")
    elif prov.get("imported"):
        lines.append(f"provenance imported from {prov.get('source')} "
                     f"(sha256 {str(prov.get('sha256'))[:12]})")
    else:
        lines.append(f"provenance {json.dumps(prov, sort_keys=True)}")
    typer.echo("\n".join(lines))


@app.command("stitch")
def stitch(
    plan: Path = typer.Argument(..., help="Stitching plan (YAML: interval, start, segments)."),
    out: Path = typer.Option(..., "-o", "--out", help="The recording to write (.jsonl.gz)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Build a long recording from recorded segments on the plan's timeline.

    Exit 0 written, 2 bad plan (the error names the file, field and value) or OUT exists.
    """
    from gameday.engine.stitch import run_stitch, validate_plan

    checked = validate_plan(plan)
    progress = _Progress(f"stitching {out.name}")
    started = time.monotonic()
    try:
        stats = write_into_place(out, lambda tmp: run_stitch(checked, tmp, progress),
                                 "the stitched recording", force)
    finally:
        progress.close()
    span = checked.end - checked.start
    typer.echo(f"wrote {out} ({size(out.stat().st_size)}): {span:.0f}s at "
               f"{checked.interval:g}s from {len(checked.segments)} segment(s), "
               f"{stats.scrapes} scrapes, {stats.samples} samples, {stats.series} series, "
               f"{stats.resets} counter resets from the sources "
               f"in {time.monotonic() - started:.1f}s")


@app.command("export")
def export(
    recording: str = typer.Argument(..., help="A recording: a path or a shipped name."),
    out: Path = typer.Option(..., "-o", "--out", help="The OpenMetrics text file to write."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Write a recording as OpenMetrics text, for promtool tsdb create-blocks-from openmetrics.

    OpenMetrics has no stale markers: a series that stops, or a failed scrape, just has no
    more samples (see docs/recordings.md).
    """
    from gameday.engine.openmetrics import write_openmetrics
    from gameday.resources import find_recording

    source = find_recording(recording)
    started = time.monotonic()
    stats = write_into_place(out, lambda tmp: write_openmetrics(source, tmp),
                             "the OpenMetrics text", force)
    typer.echo(f"wrote {out} ({size(stats.bytes)}): {stats.families} families, "
               f"{stats.series} series, {stats.samples} samples (up included) in "
               f"{time.monotonic() - started:.1f}s; then: promtool tsdb create-blocks-from "
               f"openmetrics {out} DIR")


@app.command("import")
def import_(
    text: Path = typer.Argument(..., help="An OpenMetrics text file with timestamps."),
    out: Path = typer.Option(..., "-o", "--out", help="The recording to write (.jsonl.gz)."),
    interval: str = typer.Option(None, "--interval",
                                 help="Scrape interval for the header (default: inferred)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Read OpenMetrics text (as exported, or from elsewhere) into a gameday recording."""
    from gameday.durations import parse_duration
    from gameday.engine.openmetrics import import_openmetrics

    if not text.is_file():
        raise ValidationError(f"{text}: no such file")
    step = parse_duration(interval, "--interval") if interval else None
    stats = write_into_place(out, lambda tmp: import_openmetrics(text, tmp, interval_s=step),
                             "the recording", force)
    typer.echo(f"wrote {out} ({size(out.stat().st_size)}): {stats.scrapes} scrapes, "
               f"{stats.samples} samples, interval {stats.interval_s:g}s")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="recording")
