"""The drill's events as a Prometheus counter at the incident API's /metrics."""

from __future__ import annotations

import httpx

from gameday.drill.api import IncidentServer
from gameday.drill.eventmetrics import EventCounts
from gameday.engine.exposition import parse


def test_events_are_counted_by_kind_and_faults_stay_hidden():
    counts = EventCounts()
    for event in ({"kind": "page"}, {"kind": "ack", "who": "ann"}, {"kind": "ack"},
                  {"kind": "fault_start", "who": "chaos"}, {"kind": "fault_end"},
                  {"kind": "note", "who": "chaos"}, {"kind": "something_new"}):
        counts.count(event)
    samples, _ = parse(counts.render())
    got = {dict(s.labels)["kind"]: s.value for s in samples}
    assert got["page"] == 1 and got["ack"] == 2 and got["something_new"] == 1
    assert got["mitigation"] == 0 and got["resolve"] == 0  # there from the start
    assert "fault_start" not in got and "fault_end" not in got and got["note"] == 0


def test_the_incident_api_serves_them_without_a_token():
    counts = EventCounts()
    counts.count({"kind": "mitigation", "who": "ann"})
    server = IncidentServer("s3cret", lambda a, b: (200, {}), lambda b: (200, {}),
                            render_metrics=counts.render).start()
    try:
        resp = httpx.get(server.url + "/metrics")
    finally:
        server.stop()
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert 'gameday_drill_events_total{kind="mitigation"} 1' in resp.text
    assert "s3cret" not in resp.text


def test_prometheus_config_scrapes_the_drill_controller_when_given():
    from gameday.prometheus.server import PrometheusConfig

    jobs = PrometheusConfig(targets={"gateway": ["http://127.0.0.1:8080"]},
                            drill="127.0.0.1:9095").render()["scrape_configs"]
    assert jobs[-1] == {"job_name": "gameday-drill", "metrics_path": "/metrics",
                        "static_configs": [{"targets": ["127.0.0.1:9095"]}]}
    plain = PrometheusConfig(targets={"gateway": ["http://127.0.0.1:8080"]}).render()
    assert [j["job_name"] for j in plain["scrape_configs"]] == ["gateway"]
