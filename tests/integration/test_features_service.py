"""The feature store as a real process on loopback: `python -m gameday_services.features`."""

import time

import httpx
import pytest

from tests.procs import ServiceProcess, auth


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    folder = tmp_path_factory.mktemp("features")
    env = {"FEATURES_LOAD_TIME_S": "0.6", "FEATURES_ENTITIES": "300",
           "FEATURES_DB_PATH": str(folder / "features.sqlite3")}
    proc = ServiceProcess("features", env=env, log_dir=folder)
    proc.start(wait_ready=False)
    proc.wait_ready("/healthz")
    early = httpx.get(proc.url + "/readyz", timeout=2)
    proc.wait_ready()
    yield proc, folder, early
    proc.stop()


def test_not_ready_while_seeding_then_ready(features):
    proc, _, early = features
    assert early.status_code == 503 and early.json()["ready"] is False
    assert httpx.get(proc.url + "/readyz").json() == {"ready": True}


def test_features_are_served_from_a_sqlite_file(features):
    proc, folder, _ = features
    assert (folder / "features.sqlite3").read_bytes()[:16] == b"SQLite format 3\x00"
    resp = httpx.get(proc.url + "/v1/features/e0299")
    assert resp.status_code == 200
    body = resp.json()
    assert body["entity_id"] == "e0299" and len(body["features"]) == 8
    assert body["stale"] is False
    label = httpx.get(proc.url + "/v1/labels/e0299").json()
    assert label["entity_id"] == "e0299" and label["label"] in (0, 1, 2)


def test_unknown_and_malformed_ids(features):
    proc, _, _ = features
    missing = httpx.get(proc.url + "/v1/features/e0300")
    assert missing.status_code == 404
    assert missing.json()["error"] == "unknown entity 'e0300'"
    assert httpx.get(proc.url + "/v1/features/bad%20id").status_code == 422


def test_stale_store_fault_over_http(features):
    proc, _, _ = features
    spec = {"type": "stale_store", "params": {"age_s": 600}, "ttl_s": 1.0}
    assert httpx.post(proc.url + "/admin/faults", json=spec, headers=auth()).status_code == 201
    body = httpx.get(proc.url + "/v1/features/e0001").json()
    assert body["stale"] is True and body["age_s"] >= 600
    time.sleep(1.1)  # the fault expires by itself
    assert httpx.get(proc.url + "/v1/features/e0001").json()["stale"] is False


EXPECTED_TYPES = {
    "feature_store_queries_total": "counter",
    "feature_store_query_duration_seconds": "histogram",
    "feature_store_entities": "gauge",
    "feature_store_staleness_seconds": "histogram",
    "http_requests_total": "counter",
    "http_request_duration_seconds": "histogram",
}


def test_metrics_name_every_domain_metric_with_its_type(features):
    proc, _, _ = features
    httpx.get(proc.url + "/v1/features/e0002")
    text = httpx.get(proc.url + "/metrics").text
    for name, kind in EXPECTED_TYPES.items():
        assert f"# TYPE {name} {kind}" in text, name
    assert "feature_store_entities 300.0" in text
    assert 'route="/v1/features/{entity_id}"' in text
