"""The embedded engine's Prometheus-compatible HTTP API, read with the Prometheus client."""

from __future__ import annotations

import httpx
import pytest
import yaml

from gameday.engine.embedded import EmbeddedEngine
from gameday.engine.queryapi import QueryServer
from gameday.engine.store import load_series
from gameday.prometheus.api import PrometheusAPI, PrometheusError

RULES = {"groups": [
    {"name": "sli", "interval": "10s", "rules": [
        {"record": "job:errors:ratio_rate1m",
         "expr": 'sum by (job) (rate(reqs_total{code="500"}[1m])) '
                 '/ sum by (job) (rate(reqs_total[1m]))'}]},
    {"name": "alerts", "interval": "10s", "rules": [
        {"alert": "TooManyErrors", "expr": "job:errors:ratio_rate1m > 0.1", "for": "20s",
         "labels": {"severity": "page"},
         "annotations": {"summary": "{{ $labels.job }} fails"}}]},
]}


@pytest.fixture
def served(tmp_path):
    rules = tmp_path / "r.rules.yml"
    rules.write_text(yaml.safe_dump(RULES))
    engine = EmbeddedEngine([rules])
    # 10 s steps: 100 ok per step throughout, 50 errors per step from t=100 s
    load_series(engine.store, [('reqs_total{job="gw",code="200"}', "0+100x30"),
                               ('reqs_total{job="gw",code="500"}', "0x10 0+50x19")], step=10)
    for t in range(0, 301, 10):
        engine.tick(t)
    server = QueryServer(engine).start()
    api = PrometheusAPI(server.url)
    yield engine, server, api
    api.close()
    server.stop()


def test_instant_query_vector_and_scalar(served):
    engine, server, api = served
    [sample] = api.query("job:errors:ratio_rate1m", at=200)
    assert sample.labels == {"__name__": "job:errors:ratio_rate1m", "job": "gw"}
    assert sample.value == pytest.approx(50 / 150)
    assert sample.timestamp == 200
    [scalar] = api.query("2 * 21")
    assert scalar.labels == {} and scalar.value == 42
    # a vector with one label-less sample stays a vector
    assert httpx.get(server.url + "/api/v1/query", params={"query": "sum(reqs_total)",
                                                          "time": "100"}
                     ).json()["data"]["resultType"] == "vector"


def test_query_defaults_to_the_last_evaluation(served):
    _, _, api = served
    [sample] = api.query("job:errors:ratio_rate1m")
    assert sample.timestamp == 300


def test_range_query_matrix(served):
    _, _, api = served
    series = api.query_range("job:errors:ratio_rate1m", 0, 300, 50)
    [(labels, points)] = series.items()
    assert dict(labels)["job"] == "gw"
    by_t = dict(points)
    assert by_t[50] == 0 and by_t[300] == pytest.approx(1 / 3)


def test_alerts_and_rules_as_prometheus_reports_them(served):
    _, server, api = served
    [alert] = api.alerts()
    assert alert["state"] == "firing"
    assert alert["labels"] == {"alertname": "TooManyErrors", "job": "gw", "severity": "page"}
    assert alert["annotations"] == {"summary": "gw fails"}
    assert alert["activeAt"].endswith("Z") and float(alert["value"]) > 0.1
    groups = {g["name"]: g for g in api.rule_groups()}
    assert set(groups) == {"sli", "alerts"}
    assert [r["type"] for r in groups["alerts"]["rules"]] == ["alerting"]
    assert groups["sli"]["rules"][0]["health"] == "ok"
    assert httpx.get(server.url + "/-/ready").status_code == 200


def test_bad_queries_answer_like_prometheus(served):
    _, server, api = served
    with pytest.raises(PrometheusError, match="bad_data.*cannot parse PromQL"):
        api.query("sum(")
    with pytest.raises(PrometheusError, match="unsupported PromQL"):
        api.query("reqs_total[1m:10s]")
    resp = httpx.get(server.url + "/api/v1/query")
    assert resp.status_code == 400 and resp.json()["error"] == "missing parameter 'query'"
    resp = httpx.get(server.url + "/api/v1/query", params={"query": "1", "time": "soon"})
    assert resp.status_code == 400 and "'time'" in resp.json()["error"]
    resp = httpx.get(server.url + "/api/v1/query_range",
                     params={"query": "1", "start": 0, "end": 10, "step": 0})
    assert resp.status_code == 400
    assert httpx.get(server.url + "/api/v1/series").status_code == 404


def test_post_form_queries_and_special_values(served):
    _, server, _ = served
    body = httpx.post(server.url + "/api/v1/query",
                      data={"query": "reqs_total / 0", "time": "100"}).json()
    values = sorted(r["value"][1] for r in body["data"]["result"])
    assert values == ["+Inf", "NaN"]  # 1000/0 and 0/0
