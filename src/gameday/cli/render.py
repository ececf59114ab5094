"""Rich renderings shared by the stack commands."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gameday.stack.state import StackState

STATE_STYLE = {"ready": "green", "starting": "yellow", "backoff": "red", "crashed": "bold red",
               "stopped": "dim"}


def relative(path: str | Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def make_console(stderr: bool = False) -> Console:
    """A console that does not squeeze tables to 80 columns when output is not a terminal."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=160)
    return console


def status_table(state: StackState, ready: dict[str, bool] | None = None,
                 title: str | None = None, alive: bool = True) -> Table:
    """One row per process. ``ready``: live /readyz answers by process id (else from state).

    With ``alive`` False (the supervisor is gone), processes not stopped show as 'gone'.
    """
    table = Table(title=title, title_justify="left")
    for col in ("process", "url", "pid", "state", "ready", "restarts", "last exit", "uptime"):
        table.add_column(col, justify="right" if col in ("pid", "restarts") else "left")
    now = time.time()
    for p in state.processes:
        ok = ready.get(p.id, False) if ready is not None else p.state == "ready"
        last = (f"{p.last_exit_reason} ({p.last_exit_code})" if p.last_exit_reason else "-")
        if p.state == "backoff" and p.next_start_at:
            last += f", restart in {max(0.0, p.next_start_at - now):.1f}s"
        pid = p.pid if alive else None
        uptime = (f"{now - p.started_at:.0f}s" if p.started_at and pid else "-")
        name = p.state if alive or p.state == "stopped" else "gone"
        style = STATE_STYLE.get(name, "dim")
        shown = f"[{style}]{name}[/]"
        table.add_row(p.id, p.url, str(pid or "-"), shown,
                      "[green]yes[/]" if ok else "[red]no[/]", str(p.restarts), last, uptime)
    return table


def summary_lines(state: StackState) -> list[str]:
    """Service URLs, the run folder, the token file and how to stop."""
    width = max((len(p.id) for p in state.processes), default=0)
    lines = [f"  {p.id:<{width}}  {p.url}" for p in state.processes]
    if state.prometheus_url:
        lines.append(f"prometheus:  {state.prometheus_url}  (generated SLO rules loaded)")
    if state.embedded_url:
        lines.append(f"query API:   {state.embedded_url}  (embedded engine, Prometheus-style)")
    run_dir = relative(state.run_dir)
    lines += [
        f"run folder:  {run_dir}/  (logs in {run_dir}/logs/)",
        f"admin token: {run_dir}/token (mode 0600)",
    ]
    return lines
