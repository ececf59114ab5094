"""Run Locust in its own process (never imported here: it monkey-patches gevent).

    handle = start_load("steady", users=10, duration_s=30, host=None, out_dir=None, run=None)
    handle.wait(); handle.stats()        # or handle.stop() from this process,
    stop_load()                          # or from any other one, through <out>/locust.pid

Files in the output folder (``<run>/load/<timestamp>-<profile>/`` by default): locust.pid,
load.json (what was run), locust.log, locust_stats.csv, locust_stats_history.csv,
locust_failures.csv, locust.json (Locust's --json-file), report.html.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gameday.errors import NotFoundError, ValidationError
from gameday.runfolder import LOAD_REPORT
from gameday.stack.process import _die_with_parent, pid_alive

from .profiles import locustfile_for
from .stats import Progress, read_history, read_stats_csv, read_stats_json, summarize
from .target import stack_targets

PREFIX = "locust"
PID_FILE = "locust.pid"
META_FILE = "load.json"
GRACE_S = 15.0  # Locust's own -t bound: the profile's duration plus this


def locust_command(locustfile: Path, host: str, prefix: Path, run_time_s: float,
                   extra: list[str] | None = None) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
            "--host", host, "--csv", str(prefix), "--json-file", str(prefix),
            "--html", str(prefix.parent / LOAD_REPORT), "--only-summary",
            "-t", f"{max(1, round(run_time_s))}s", *(extra or [])]


def validate_load(users: int, duration_s: float) -> None:
    if users < 1:
        raise ValidationError(f"--users: must be at least 1, got {users}")
    if duration_s <= 0:
        raise ValidationError(f"--duration: must be above zero, got {duration_s:g}s")


def new_out_dir(profile: str, run=None, out_dir: Path | None = None) -> Path:
    """``out_dir`` if given, else ``<run>/load/<UTC timestamp>-<profile>/``."""
    if out_dir is None:
        from gameday.runfolder import resolve_run

        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        base = resolve_run(run).load_dir / f"{stamp}-{profile}"
        out_dir, n = base, 1
        while out_dir.exists():
            n += 1
            out_dir = base.with_name(f"{base.name}-{n}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


@dataclass
class LoadHandle:
    """A Locust run in its own process group; also rebuilt from a folder by ``attach``."""

    pid: int
    out_dir: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def prefix(self) -> Path:
        return self.out_dir / PREFIX

    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return pid_alive(self.pid)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for Locust to end; its exit code (None when not known or still running)."""
        if self.process is not None:
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        deadline = None if timeout is None else time.monotonic() + timeout
        while pid_alive(self.pid):
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.2)
        return None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGINT (Locust writes its stats and exits; in 2.47 its SIGTERM handler does not
        run under a shape), then SIGTERM, then SIGKILL after ``timeout``. 30 s: on 2 cores
        busy with an overload, a Locust took over 15 s to write its stats and exit."""
        for sig, wait_s in ((signal.SIGINT, timeout), (signal.SIGTERM, 3.0),
                            (signal.SIGKILL, 3.0)):
            if not self.running():
                break
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                break
            self.wait(wait_s)
        return self.process.poll() if self.process is not None else None

    def progress(self) -> list[Progress]:
        return read_history(Path(f"{self.prefix}_stats_history.csv"))

    def stats(self) -> dict:
        """Totals and per-entry stats (final once Locust has exited), plus the folder."""
        entries = read_stats_csv(Path(f"{self.prefix}_stats.csv"))
        return {"out_dir": str(self.out_dir), "pid": self.pid, "running": self.running(),
                **summarize(entries)}

    def json_stats(self) -> list[dict]:
        return read_stats_json(Path(f"{self.prefix}.json"))


def _child_setup(die_with_parent: bool):
    """preexec_fn: SIGINT back to its default and unblocked (an ignored or blocked SIGINT is
    inherited through fork and exec: uvloop, for one, blocks signals in threads it runs; Locust
    would then never get the SIGINT that makes it write its stats and exit); with
    ``die_with_parent``, the parent-death signal too."""
    with_parent = _die_with_parent(os.getpid()) if die_with_parent else None

    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        if with_parent is not None:
            with_parent()

    return setup


def start_locust(locustfile: Path, host: str, out_dir: Path, run_time_s: float,
                 extra: list[str], meta: dict, die_with_parent: bool = False) -> LoadHandle:
    """Locust headless in its own session; with ``die_with_parent`` it is killed when this
    process dies (a drill's load), else it runs out its time (a load left running)."""
    argv = locust_command(locustfile, host, out_dir / PREFIX, run_time_s, extra)
    log = open(out_dir / "locust.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(argv, cwd=locustfile.parent, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_child_setup(die_with_parent))
    finally:
        log.close()
    (out_dir / PID_FILE).write_text(f"{proc.pid}\n")
    (out_dir / META_FILE).write_text(json.dumps(
        {**meta, "host": host, "pid": proc.pid, "argv": argv, "started_at": time.time()},
        indent=2) + "\n")
    return LoadHandle(pid=proc.pid, out_dir=out_dir, process=proc)


def start_load(profile: str, users: int, duration_s: float, host: str | None = None,
               out_dir: Path | str | None = None, run=None,
               features_host: str | None = None, die_with_parent: bool = False) -> LoadHandle:
    """Start a load profile in the background; ``host`` defaults to the run's gateway."""
    locustfile = locustfile_for(profile)
    validate_load(users, duration_s)
    if host is None:
        host, features_host = stack_targets(run)
    out = new_out_dir(profile, run, Path(out_dir) if out_dir else None)
    extra = ["--load-users", str(users), "--load-duration", f"{duration_s:g}s"]
    run_time_s = duration_s + GRACE_S  # the shape ends the run; -t only bounds it
    if profile == "mix":  # no shape: Locust's own users and run time
        extra, run_time_s = ["-u", str(users), "-r", str(users)], duration_s
    if features_host:
        extra += ["--features-host", features_host]
    meta = {"profile": profile, "users": users, "duration_s": duration_s}
    return start_locust(locustfile, host, out, run_time_s, extra, meta, die_with_parent)


def attach(out_dir: Path) -> LoadHandle:
    try:
        pid = int((out_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        raise NotFoundError(f"{out_dir / PID_FILE}: no Locust pid there") from None
    return LoadHandle(pid=pid, out_dir=out_dir)


def find_loads(run=None) -> list[Path]:
    from gameday.runfolder import resolve_run

    base = resolve_run(run).load_dir
    return sorted(p for p in base.glob("*") if (p / PID_FILE).is_file()) if base.is_dir() else []


def stop_load(run=None, out_dir: Path | str | None = None, timeout: float = 30.0) -> list[int]:
    """Stop the Locust runs of ``run`` still going (or the one in ``out_dir``); their pids."""
    dirs = [Path(out_dir)] if out_dir else find_loads(run)
    stopped = []
    for d in dirs:
        handle = attach(d)
        if handle.running() and _is_locust(handle.pid):
            handle.stop(timeout)
            stopped.append(handle.pid)
    return stopped


def _is_locust(pid: int) -> bool:
    """Guard against a recycled pid: the process's command line names locust."""
    try:
        return b"locust" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


__all__ = ["LoadHandle", "attach", "find_loads", "start_load", "stop_load"]
