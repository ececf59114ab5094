"""Helpers shared by the bench scripts: statistics, ratios, tables, wrk, server processes.

Pure functions first (tests/unit/test_bench_smoke.py runs them on tiny inputs), then the
parts that start processes. Not a benchmark itself: bench/run.py only runs ``bench_*.py``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# bench scripts call bl.free_port: the stack's own pick, below the ephemeral range
from gameday.stack.plan import free_port  # noqa: E402,F401

# -- statistics and formatting (pure) ---------------------------------------------------

def read_timeline(path: Path) -> list[dict]:
    """A run's timeline.jsonl as dicts; a torn (last) line is skipped."""
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation; nan for no values."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return float(data[lo] + (data[hi] - data[lo]) * (pos - lo))


def latency_summary(seconds: list[float]) -> dict:
    """p50/p90/p99 and max in milliseconds of latencies given in seconds."""
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p90_ms": percentile(ms, 90),
            "p99_ms": percentile(ms, 99), "max_ms": max(ms) if ms else math.nan}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(a: float, b: float) -> float:
    """a / b, nan when b is 0 or either is nan."""
    if not b or math.isnan(a) or math.isnan(b):
        return math.nan
    return a / b


def loss(variant: float, base: float) -> float:
    """Throughput lost by ``variant`` against ``base``, as a fraction (0.05 = 5% slower)."""
    r = ratio(variant, base)
    return math.nan if math.isnan(r) else 1.0 - r


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def fmt(value, digits: int = 1) -> str:
    """A number for a table: fixed digits, 'n/a' for None or nan."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pct(fraction: float, digits: int = 1) -> str:
    if fraction is None or math.isnan(fraction):
        return "n/a"
    return f"{fraction * 100:.{digits}f}%"


def markdown_table(headers: list[str], rows: list[list]) -> str:
    """A GitHub markdown table; cells go through ``fmt``."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(c) for c in row) + " |")
    return "\n".join(lines)


def rotated(items: list, k: int) -> list:
    """``items`` rotated by ``k``: round k of an interleaved run starts with a different one."""
    if not items:
        return []
    k %= len(items)
    return items[k:] + items[:k]


def host_loop_ms(iterations: int = 300_000, repeat: int = 3) -> float:
    """Milliseconds a fixed pure-Python loop takes here now (median of ``repeat``): the
    host's speed at the moment, printed beside results measured on a shared machine whose
    speed drifts (bench/README.md, section 3)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        x = 0
        for i in range(iterations):
            x += i
        times.append((time.perf_counter() - t0) * 1000)
    return median(times)


def save_json(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


# -- wrk ----------------------------------------------------------------------------------

# done() prints one JSON line after wrk's own text; latencies in microseconds.
WRK_DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, '
    .. '"p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def wrk_script(method: str = "GET", body: str | None = None) -> str:
    """The Lua script for one request shape, with the JSON summary hook."""
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = [[{body}]]")
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    return "\n".join(lines) + "\n" + WRK_DONE_LUA


def parse_wrk(output: str) -> dict:
    """wrk's JSON summary line -> rps of good (2xx/3xx) answers, errors and latency in ms."""
    for line in output.splitlines():
        if line.startswith("WRKJSON "):
            raw = json.loads(line[len("WRKJSON "):])
            break
    else:
        raise ValueError(f"no WRKJSON line in wrk output: {output[-400:]!r}")
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    good = raw["requests"] - raw["status"]
    return {"requests": raw["requests"], "good": good, "non_2xx": raw["status"],
            "socket_errors": errors, "seconds": seconds,
            "rps": good / seconds if seconds else math.nan,
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000, "max_ms": raw["max_us"] / 1000}


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def require_wrk(script: str) -> bool:
    """True when wrk is on PATH; else print why the bench is skipped."""
    if have_wrk():
        return True
    print(f"SKIPPED {script}: wrk is not installed (Debian/Ubuntu: apt-get install -y wrk; "
          f"macOS: brew install wrk)")
    return False


def run_wrk(url: str, connections: int, duration_s: float, script: str,
            threads: int = 1, timeout_s: float = 5.0, cpus: set[int] | None = None) -> dict:
    """One wrk run at fixed concurrency; parsed summary. ``cpus``: pin wrk to these."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        lua = f.name
    try:
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration_s:g}s",
               "--timeout", f"{timeout_s:g}s", "-s", lua, url]
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                             timeout=duration_s + 30, preexec_fn=pin)
        return parse_wrk(out.stdout)
    finally:
        os.unlink(lua)


# -- processes ----------------------------------------------------------------------------

def split_cpus() -> tuple[set[int], set[int]] | None:
    """(load generator's CPUs, server's CPUs): one half each, or None on a single CPU.
    Pinning each side keeps the scheduler from moving them onto one core mid-run, the main
    noise of a side-by-side run on a small shared machine."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


def wait_http(url: str, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> float:
    """Poll ``url`` until it answers 200; seconds waited. Raises on timeout or death."""
    import httpx

    t0 = time.perf_counter()
    while True:
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        if time.perf_counter() - t0 > timeout_s:
            raise TimeoutError(f"{url}: not ready after {timeout_s:g} s")
        time.sleep(0.05)


def start_python(args: list[str], env: dict | None = None, log: Path | None = None
                 ) -> subprocess.Popen:
    """``python ARGS`` from the project root, its output to ``log`` (or nowhere)."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - lives with the child
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=out, stderr=out,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def stop(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
