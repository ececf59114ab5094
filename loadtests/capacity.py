"""Capacity: classify-only users in steps until p99 crosses the latency SLO threshold.

Each step adds --step-users users (about 10 requests/s each), waits --settle seconds, then
measures for the rest of --step-time. One JSON line per step goes to --steps-file; the run
stops at the first step whose p99 is above --slo-ms (or whose failure ratio is above
--max-failure-ratio), at --max-users or at --max-time.

A degraded answer (``"degraded": true``: a fallback, or the model on default features) is a
failure here: past the classifiers' queues the gateway's circuit opens and every answer is
a fast fallback, which would otherwise read as throughput far above what the model served
(a run measured 1,480 "req/s" at 155 users, 30 ms p50, against 1,160 served at 140). Each
step reports ``rps`` (every answer) and ``served_rps`` (answers that were not failures).

    locust -f loadtests/capacity.py --headless --host URL --slo-ms 300 --steps-file steps.jsonl
"""

from __future__ import annotations

import json
import math
import time

import gateway_users  # the module, not its classes: Locust runs every User class in sight
from load_shape import parse_seconds
from locust import LoadTestShape, events

__all__ = ["CapacityShape", "CapacityUser"]

DEGRADED = (b'"degraded":true', b'"degraded": true')  # the gateway's compact JSON, or spaced


def is_degraded(body: bytes) -> bool:
    """The classify answer says it is degraded (found without parsing the JSON: the load
    generator shares the cores with the stack it measures)."""
    return any(marker in body for marker in DEGRADED)


class CapacityUser(gateway_users.ClassifyUser):
    """A classify user whose degraded answers are failures: capacity is what the model
    serves, not what the fallbacks answer."""

    def classify_failure(self, resp) -> str | None:
        failure = super().classify_failure(resp)
        if failure is None and is_degraded(resp.content):
            return "degraded answer (not served by the model)"
        return failure


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    add = parser.add_argument
    add("--start-users", type=int, env_var="CAPACITY_START_USERS", default=5)
    add("--step-users", type=int, env_var="CAPACITY_STEP_USERS", default=5)
    add("--step-time", type=str, env_var="CAPACITY_STEP_TIME", default="10s")
    add("--settle", type=str, env_var="CAPACITY_SETTLE", default="2s")
    add("--max-users", type=int, env_var="CAPACITY_MAX_USERS", default=100)
    add("--max-time", type=str, env_var="CAPACITY_MAX_TIME", default="120s")
    add("--slo-ms", type=float, env_var="CAPACITY_SLO_MS", default=300.0)
    add("--max-failure-ratio", type=float, env_var="CAPACITY_MAX_FAILURE_RATIO", default=0.05)
    add("--steps-file", type=str, env_var="CAPACITY_STEPS_FILE", default="capacity_steps.jsonl")


def percentile(histogram: dict[int, int], q: float) -> float | None:
    """Nearest-rank percentile of a {rounded ms: count} histogram."""
    n = sum(histogram.values())
    if n == 0:
        return None
    rank, seen = max(1, math.ceil(q * n)), 0
    for ms in sorted(histogram):
        seen += histogram[ms]
        if seen >= rank:
            return float(ms)
    return float(max(histogram))


class CapacityShape(LoadTestShape):
    def __init__(self) -> None:
        super().__init__()
        self.step: dict | None = None
        self.done = False

    def _opts(self):
        return self.runner.environment.parsed_options

    def _snapshot(self) -> dict:
        total = self.runner.stats.total
        return {"at": time.monotonic(), "requests": total.num_requests,
                "failures": total.num_failures, "times": dict(total.response_times)}

    def _finish(self) -> dict | None:
        """Write the current step's line; returns it (None if nothing was measured)."""
        step, self.step = self.step, None
        if step is None or step.get("start") is None:
            return None
        start, end = step["start"], self._snapshot()
        hist = {ms: c - start["times"].get(ms, 0) for ms, c in end["times"].items()}
        hist = {ms: c for ms, c in hist.items() if c > 0}
        requests = end["requests"] - start["requests"]
        failures = end["failures"] - start["failures"]
        seconds = max(end["at"] - start["at"], 1e-6)
        opts = self._opts()
        p99 = percentile(hist, 0.99)
        line = {"users": step["users"], "seconds": round(seconds, 2), "requests": requests,
                "failures": failures, "rps": round(requests / seconds, 2),
                "served_rps": round((requests - failures) / seconds, 2),
                "p50_ms": percentile(hist, 0.5), "p95_ms": percentile(hist, 0.95),
                "p99_ms": p99, "slo_ms": opts.slo_ms}
        line["over_slo"] = p99 is not None and p99 > opts.slo_ms
        line["too_many_failures"] = requests > 0 and failures / requests > opts.max_failure_ratio
        with open(opts.steps_file, "a") as fh:
            fh.write(json.dumps(line) + "\n")
        return line

    def tick(self):
        if self.done:
            return None
        opts = self._opts()
        step_s, settle = parse_seconds(opts.step_time), parse_seconds(opts.settle)
        t = self.get_run_time()
        k = int(t // step_s)
        users = opts.start_users + k * opts.step_users
        if self.step is not None and self.step["k"] != k:
            line = self._finish()
            if line and (line["over_slo"] or line["too_many_failures"]):
                self.done = True
        if self.done or users > opts.max_users or t >= parse_seconds(opts.max_time):
            self._finish()
            self.done = True
            return None
        if self.step is None:
            self.step = {"k": k, "users": users, "start": None}
        if self.step["start"] is None and t >= k * step_s + settle:
            self.step["start"] = self._snapshot()
        return users, float(max(users, 1))
