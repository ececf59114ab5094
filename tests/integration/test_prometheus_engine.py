"""Real Prometheus scraping a real service with a rule file, read back through its HTTP API."""

import time

import httpx
import pytest

from gameday.prometheus.server import PrometheusConfig, PrometheusServer
from tests.conftest import require_binary
from tests.procs import free_port, start_own_app

RULES = """groups:
- name: example
  interval: 1s
  rules:
  - record: job:http_requests:rate5s
    expr: sum by (job) (rate(http_requests_total{route="/v1/items/{item_id}"}[5s]))
  - alert: ItemsServedAtAll
    expr: job:http_requests:rate5s > 0
    labels: {severity: ticket}
    annotations: {summary: items are being served}
"""


@pytest.fixture()
def app_url():
    proc, url = start_own_app()
    yield url
    proc.terminate()
    proc.wait()


def test_prometheus_scrapes_the_service_and_evaluates_rules(tmp_path, app_url):
    require_binary("prometheus")
    rules = tmp_path / "example.rules.yml"
    rules.write_text(RULES)
    config = PrometheusConfig(targets={"myapp": [app_url]}, rule_files=[rules])
    server = PrometheusServer(config, tmp_path / "prom", port=free_port())
    api = server.start()
    try:
        deadline = time.monotonic() + 30
        value = []
        while time.monotonic() < deadline and not value:
            for i in range(20):
                httpx.get(f"{app_url}/v1/items/{i}")
            time.sleep(0.5)
            value = api.query('job:http_requests:rate5s{job="myapp"}')
        assert value and value[0].value > 0
        raw = api.query('http_requests_total{route="/v1/items/{item_id}"}')
        # The service's own `service` label survives; the target adds job and replica.
        assert raw[0].labels["service"] == "my-model"
        assert raw[0].labels["job"] == "myapp" and raw[0].labels["replica"] == "0"
        deadline = time.monotonic() + 10
        alerts = []
        while time.monotonic() < deadline and not alerts:
            alerts = [a for a in api.alerts() if a["labels"]["alertname"] == "ItemsServedAtAll"]
            time.sleep(0.3)
        assert alerts and alerts[0]["state"] == "firing"
        assert [g["name"] for g in api.rule_groups()] == ["example"]
    finally:
        server.stop()
    assert server.proc.poll() is not None


def test_both_engines_fire_the_same_alert_on_the_same_live_service(tmp_path, app_url):
    require_binary("prometheus")
    from gameday.engine.embedded import EmbeddedEngine, PrometheusEngine

    rules = tmp_path / "example.rules.yml"
    rules.write_text(RULES)
    server = PrometheusServer(PrometheusConfig(targets={"myapp": [app_url]}, rule_files=[rules]),
                              tmp_path / "prom", port=free_port())
    server.start()
    embedded = EmbeddedEngine([rules]).start_scraping({"myapp": [app_url]},
                                                      recording=tmp_path / "rec.jsonl.gz")
    real = PrometheusEngine(server.url)
    try:
        deadline = time.monotonic() + 30
        fired = {}
        while time.monotonic() < deadline and len(fired) < 2:
            for i in range(10):
                httpx.get(f"{app_url}/v1/items/{i}")
            for name, engine in (("embedded", embedded), ("prometheus", real)):
                if any(a["state"] == "firing" for a in engine.alerts()):
                    fired[name] = True
            time.sleep(0.3)
        assert fired == {"embedded": True, "prometheus": True}
        [(labels, value)] = embedded.query('job:http_requests:rate5s{job="myapp"}')
        assert labels == {"__name__": "job:http_requests:rate5s", "job": "myapp"} and value > 0
    finally:
        embedded.stop()
        server.stop()
    # The recording replays into a fresh engine that fires the same alert.
    again = EmbeddedEngine([rules])
    again.replay(tmp_path / "rec.jsonl.gz")
    assert [a["labels"]["alertname"] for a in again.alerts()] == ["ItemsServedAtAll"]
