"""A small client for the Prometheus HTTP API (the engine used when real Prometheus runs)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from gameday.errors import GamedayError


class PrometheusError(GamedayError):
    """Prometheus could not be reached or refused a query."""


@dataclass(frozen=True)
class VectorSample:
    labels: dict
    value: float
    timestamp: float


class PrometheusAPI:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, params: dict | None = None) -> dict:
        try:
            resp = self.client.get(self.url + path, params=params)
        except httpx.HTTPError as err:
            raise PrometheusError(f"prometheus at {self.url}: {err}") from None
        try:
            body = resp.json()
        except ValueError:
            raise PrometheusError(f"prometheus at {self.url}{path}: HTTP {resp.status_code}, "
                                  f"not JSON") from None
        if body.get("status") != "success":
            raise PrometheusError(f"prometheus at {self.url}: {body.get('errorType', '?')}: "
                                  f"{body.get('error', resp.text[:200])}")
        return body["data"]

    def ready(self) -> bool:
        try:
            return self.client.get(self.url + "/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready():
                return
            time.sleep(0.1)
        raise PrometheusError(f"prometheus at {self.url} not ready after {timeout_s:g} s")

    def query(self, expr: str, at: float | None = None) -> list[VectorSample]:
        """Instant query; a scalar result comes back as one sample with no labels."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        if data["resultType"] == "vector":
            return [VectorSample(r["metric"], float(r["value"][1]), float(r["value"][0]))
                    for r in data["result"]]
        if data["resultType"] == "scalar":
            ts, value = data["result"]
            return [VectorSample({}, float(value), float(ts))]
        raise PrometheusError(f"query {expr!r}: unexpected result type {data['resultType']}")

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict:
        """``{frozenset(labels.items()): [(t, v), ...]}`` for a range query."""
        data = self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end,
                                                  "step": step})
        return {frozenset(r["metric"].items()): [(float(t), float(v)) for t, v in r["values"]]
                for r in data["result"]}

    def alerts(self) -> list[dict]:
        """Active alerts (pending and firing) as Prometheus reports them."""
        return self._get("/api/v1/alerts")["alerts"]

    def rule_groups(self) -> list[dict]:
        return self._get("/api/v1/rules")["groups"]

    def targets(self) -> list[dict]:
        return self._get("/api/v1/targets")["activeTargets"]
