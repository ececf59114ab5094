"""gateway_classify_answers_total{answer}: what the availability SLO counts, bad over total.

Every classify request but a client error is counted once: model or model_degraded (good),
cached or guess (a fallback: bad), error (a 5xx from the route or from admission: bad).
"""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from tests.integration.fake_upstreams import (
    CLASSIFIER_A,
    CLASSIFIER_B,
    gateway_app,
    in_process_fakes,
)
from tests.procs import TEST_TOKEN
from tests.unit.test_gateway_shedding import with_one_slow_request

NO_FALLBACKS = {"cached_answer": False, "most_frequent_class": False}


@pytest.fixture(autouse=True)
def admin_token(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)


def answers(registry) -> dict[str, float]:
    return {s.labels["answer"]: s.value for family in registry.collect()
            if family.name == "gateway_classify_answers" for s in family.samples
            if s.name.endswith("_total")}


def test_model_answers_5xx_and_client_errors():
    fakes = in_process_fakes()
    registry = CollectorRegistry()
    with TestClient(gateway_app(fakes, registry, fallbacks=NO_FALLBACKS)) as client:
        assert client.post("/v1/classify", json={"entity_id": "e0001"}).status_code == 200
        assert client.post("/v1/classify", json={"entity_id": "nobody"}).status_code == 404
        assert client.post("/v1/classify", json={"entity": 1}).status_code == 422
        for app in (fakes[CLASSIFIER_A], fakes[CLASSIFIER_B]):
            app.state.control.status = 500
        assert client.post("/v1/classify", json={"entity_id": "e0002"}).status_code == 502
    assert answers(registry) == {"model": 1, "model_degraded": 0, "cached": 0, "guess": 0,
                                 "error": 1}


@pytest.mark.parametrize("status, error", [(503, 1), (429, 0)])
def test_a_shed_classify_is_an_error_only_when_it_is_a_5xx(monkeypatch, status, error):
    bodies = [b'{"entity_id": "e0002"}']
    shed, _, registry = asyncio.run(with_one_slow_request(
        monkeypatch, bodies, admission={"shed_status": status}))
    assert shed[0].status_code == status
    assert answers(registry)["error"] == error
    assert answers(registry)["model"] == 1  # the slow request that held the slot
