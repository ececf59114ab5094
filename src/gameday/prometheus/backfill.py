"""promtool's backfill of recording rules over a recording: the reference for backtests.

The steps, each a process measured for wall time, CPU time and peak RSS (``Step``):

1. export the recording as OpenMetrics text (``gameday.engine.openmetrics``, in a child);
2. ``promtool tsdb create-blocks-from openmetrics`` into a fresh data folder;
3. a Prometheus on that folder (loopback, retention of 100 years: recordings start in the
   past), ready when ``/-/ready`` answers;
4. ``promtool tsdb create-blocks-from rules --start --end --url --eval-interval`` with the
   recording rules. promtool evaluates each rule by range queries on that Prometheus and
   writes the results as blocks that the server does not read, so a rule that reads
   another recording rule (``slo:sli_error:ratio_rate30d`` reads ``..._rate5m``) sees no
   data in the same run. The rules are therefore backfilled by dependency level: level 0
   (raw metrics only), its blocks moved into the data folder and Prometheus restarted,
   then level 1, and so on. Each pass rewrites the rule files at the same paths with only
   that level's rules (alerting rules dropped: promtool backfills recording rules), so a
   group keeps its name and file, hence the evaluation offset Prometheus derives from them
   (``Group.EvalTimestamp``): all its rules come out at ``k * interval + offset``.

``group_offsets`` reads those offsets back from the backfilled series, so that a backtest
can evaluate each group at the same instants (``gameday.slo.replay``), and
``sampled_points`` reads the backfilled points near sampled times for comparison.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from gameday.errors import GamedayError, StackError
from gameday.prometheus.childserver import ChildServer
from gameday.prometheus.server import find_prometheus
from gameday.stack.plan import free_port

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class BackfillError(GamedayError):
    """A step of the promtool backfill failed."""


@dataclass
class Step:
    name: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


@dataclass
class Backfill:
    """What the backfill did; ``server`` still runs over every block (stop it)."""

    steps: list[Step] = field(default_factory=list)
    levels: int = 0
    server: PrometheusOnBlocks | None = None

    def total(self, skip: tuple[str, ...] = ()) -> Step:
        steps = [s for s in self.steps if not s.name.startswith(skip)]
        return Step("total", sum(s.wall_s for s in steps), sum(s.cpu_s for s in steps),
                    max((s.peak_rss_mb for s in steps), default=0.0))


def run_measured(name: str, argv: list[str], log: Path) -> Step:
    """Run ``argv`` to the end; its wall time, CPU time and peak RSS.

    Through GNU time when installed: a child's peak RSS as the kernel reports it includes
    the memory of the process that forked it (kept across exec), and a small forker keeps
    that out. Without it, the peak RSS is read from this process's children (an upper
    bound)."""
    t0 = time.perf_counter()
    gnu_time = shutil.which("time")
    usage_file = log.with_suffix(".usage")
    wrapped = [gnu_time, "-f", "%U %S %M", "-o", str(usage_file), *argv] if gnu_time else argv
    with open(log, "ab") as out:
        proc = subprocess.Popen(wrapped, stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if code != 0:
        raise BackfillError(f"{name}: {argv[0]} exited with {code}; see {log}")
    if gnu_time:
        user, system, rss_kb = usage_file.read_text().split()[-3:]
        return Step(name, wall, float(user) + float(system), int(rss_kb) / 1024)
    return Step(name, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


class PrometheusOnBlocks(ChildServer):
    """A Prometheus serving the blocks of ``data`` on a free loopback port (launch and
    readiness as every child server's; ``start_step``/``stop_step`` measure them)."""

    name = "prometheus"

    def __init__(self, data: Path, workdir: Path) -> None:
        super().__init__(workdir, port=0)
        self.data = data
        self.config = workdir / "prometheus.yml"
        self.config.write_text("global:\n  scrape_interval: 15s\n")

    def launch(self) -> None:
        self.port = free_port()
        self.spawn([find_prometheus(), f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.data}", f"--web.listen-address={self.address}",
                    "--storage.tsdb.retention.time=100y", "--query.max-samples=500000000",
                    "--query.timeout=10m"])

    def start_step(self, name: str) -> Step:
        """Launch it and wait until ready: the wall time of that."""
        began = time.perf_counter()
        try:
            self.start(timeout_s=120)
        except StackError as err:
            raise BackfillError(str(err)) from None
        return Step(name, time.perf_counter() - began, 0.0, 0.0)

    def stop_step(self, name: str) -> Step:
        """Stop it: its whole life's CPU time and peak RSS."""
        proc, self.proc = self.proc, None
        if proc is None:
            return Step(name, 0.0, 0.0, 0.0)
        rss = _peak_rss_mb(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        # wall 0: its life overlaps the steps it served, counted there
        return Step(name, 0.0, usage.ru_utime + usage.ru_stime, rss)

    def query(self, expr: str, t: float) -> list[dict]:
        body = httpx.get(self.url + "/api/v1/query", params={"query": expr, "time": repr(t)},
                         timeout=120).json()
        if body.get("status") != "success":
            raise BackfillError(f"query {expr!r} at {t}: {body.get('error')}")
        return body["data"]["result"]


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# -- rules by dependency level ----------------------------------------------------------
def rule_levels(rule_files: list[Path]) -> list[dict[str, dict]]:
    """Per level, the rule files (name -> document) holding only that level's recording
    rules; level 0 reads no recording rule, level n reads some of level n - 1."""
    docs = {p.name: yaml.safe_load(p.read_text()) for p in rule_files}
    rules = [r for d in docs.values() for g in d["groups"] for r in g["rules"] if "record" in r]
    recorded = {r["record"] for r in rules}
    reads = {}
    for r in rules:
        reads.setdefault(r["record"], set()).update(set(NAME.findall(r["expr"])) & recorded)
    level: dict[str, int] = {}

    def depth(name: str, seen: tuple = ()) -> int:
        if name not in level:
            if name in seen:
                raise BackfillError(f"recording rule {name!r} reads itself (a cycle)")
            deps = reads[name] - {name}
            level[name] = 1 + max((depth(d, (*seen, name)) for d in deps), default=-1)
        return level[name]

    for name in recorded:
        depth(name)
    out = []
    for n in range(max(level.values(), default=-1) + 1):
        files = {}
        for fname, doc in docs.items():
            groups = [{**{k: v for k, v in g.items() if k != "rules"},
                       "rules": [r for r in g["rules"] if level.get(r.get("record")) == n]}
                      for g in doc["groups"]]
            groups = [g for g in groups if g["rules"]]
            if groups:
                files[fname] = {"groups": groups}
        out.append(files)
    return out


def backfill(recording: Path, rule_files: list[Path], workdir: Path, start: float,
             end: float, eval_interval: str = "15s") -> Backfill:
    """Every step above; the result's server runs on the raw and backfilled blocks."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "steps.log"
    result = Backfill()
    om = workdir / "recording.om"
    result.steps.append(run_measured("export OpenMetrics (gameday)", [
        sys.executable, "-c", "import sys; from pathlib import Path; "
        "from gameday.engine.openmetrics import write_openmetrics; "
        "write_openmetrics(Path(sys.argv[1]), Path(sys.argv[2]))", str(recording), str(om)],
        log))
    data = workdir / "data"
    promtool = shutil.which("promtool") or "promtool"
    result.steps.append(run_measured("promtool create-blocks-from openmetrics", [
        promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)], log))
    om.unlink()
    server = result.server = PrometheusOnBlocks(data, workdir)
    levels = rule_levels(rule_files)
    result.levels = len(levels)
    rules_dir = workdir / "rules"
    try:
        result.steps.append(server.start_step("prometheus start"))
        for n, files in enumerate(levels):
            shutil.rmtree(rules_dir, ignore_errors=True)
            rules_dir.mkdir()
            for fname, doc in files.items():
                (rules_dir / fname).write_text(yaml.safe_dump(doc, sort_keys=False))
            out = workdir / f"backfill-{n}"
            result.steps.append(run_measured(f"promtool create-blocks-from rules (level {n})", [
                promtool, "tsdb", "create-blocks-from", "rules", f"--start={int(start)}",
                f"--end={math.ceil(end)}", f"--url={server.url}",
                f"--eval-interval={eval_interval}", f"--output-dir={out}",
                *sorted(str(p) for p in rules_dir.iterdir())], log))
            for block in out.iterdir():
                block.rename(data / block.name)
            result.steps.append(server.stop_step(f"prometheus (until level {n})"))
            result.steps.append(server.start_step(f"prometheus restart (level {n} blocks)"))
    except BaseException:
        server.stop_step("prometheus")
        raise
    return result


def group_offsets(server: PrometheusOnBlocks, rule_files: list[Path], t: float,
                  interval_s: float, lookback: str = "10m") -> dict[str, float]:
    """Each group's evaluation offset (seconds) in the backfilled series at ``t``."""
    owner = {}
    for p in rule_files:
        for g in yaml.safe_load(p.read_text())["groups"]:
            for r in g["rules"]:
                if "record" in r:
                    labels = tuple(sorted((r.get("labels") or {}).items()))
                    owner[(r["record"], labels)] = g["name"]
    offsets: dict[str, float] = {}
    step_ms = int(round(interval_s * 1000))
    selector = '{__name__=~"slo:.+"}'
    for series in server.query(f"{selector}[{lookback}]", t):
        metric = series["metric"]
        for (name, labels), group in owner.items():
            if group in offsets or metric.get("__name__") != name:
                continue
            if all(metric.get(k) == v for k, v in labels):
                ts_ms = int(round(float(series["values"][-1][0]) * 1000))
                offsets[group] = (ts_ms % step_ms) / 1000
    return offsets


def sampled_points(server: PrometheusOnBlocks, times: list[float], window: str,
                   selector: str = '{__name__=~"slo:.+"}') -> dict[tuple, float]:
    """The backfilled points within ``window`` before each of ``times``: (labels, ms) ->
    value."""
    points = {}
    for t in times:
        for series in server.query(f"{selector}[{window}]", t):
            labels = tuple(sorted(series["metric"].items()))
            for ts, value in series["values"]:
                points[(labels, int(round(float(ts) * 1000)))] = float(value)
    return points


# promtool backfills rule by rule in absolute two-hour blocks, each range query ending at
# the block's last whole second: an evaluation instant in the block's last second (a group
# whose offset is above interval - 1 s) is skipped, once per block. Rules reading that
# group's series then miss those points too (a [30d] average over fewer samples), so a
# backtest compared with the backfill skips the same instants (``skip=in_backfill_gap``).
BLOCK_MS = 2 * 3600 * 1000


def in_backfill_gap(t: float | int) -> bool:
    """Whether promtool's backfill skips the instant ``t`` (seconds, or ms if an int)."""
    ts_ms = t if isinstance(t, int) else int(round(t * 1000))
    return ts_ms % BLOCK_MS > BLOCK_MS - 1000


def compare(store, points: dict[tuple, float], times: list[float], window_s: float,
            rel_tol: float = 1e-9) -> dict:
    """The backtest's recorded points (``store``) against the backfilled ``points`` near
    ``times``: equal within ``rel_tol`` (NaN equals NaN), and present on both sides
    (``gaps``: points promtool skips at its block ends, see ``in_backfill_gap``)."""
    from gameday.engine.store import is_stale

    rings = {labels: ring for labels, ring in store.series([("__name__", "=~", "slo:.+")])}
    out = {"compared": 0, "equal": 0, "worst_rel": 0.0, "mismatches": [],
           "only_backfill": 0, "only_backtest": 0, "gaps": 0}
    for (labels, ts), want in sorted(points.items()):
        ring = rings.get(labels)
        point = ring.at_or_before(ts) if ring is not None else None
        if point is None or point[0] != ts or is_stale(point[1]):
            out["only_backfill"] += 1
            if len(out["mismatches"]) < 10:
                out["mismatches"].append(("only in the backfill", dict(labels), ts, want))
            continue
        got = point[1]
        out["compared"] += 1
        if (math.isnan(got) and math.isnan(want)) or math.isclose(got, want, rel_tol=rel_tol):
            out["equal"] += 1
            if want and math.isfinite(want) and math.isfinite(got):
                out["worst_rel"] = max(out["worst_rel"], abs(got - want) / abs(want))
        elif len(out["mismatches"]) < 10:
            out["mismatches"].append(("different", dict(labels), ts, want, got))
    window_ms = int(round(window_s * 1000))
    for labels, ring in rings.items():
        for t in times:
            end = int(round(t * 1000))
            ts, vs = store.window_columns(ring, end - window_ms + 1, end)
            for x in ts:
                if (labels, x) in points:
                    continue
                if in_backfill_gap(x):
                    out["gaps"] += 1
                    continue
                out["only_backtest"] += 1
                if len(out["mismatches"]) < 10:
                    out["mismatches"].append(("only in the backtest", dict(labels), x))
    return out
