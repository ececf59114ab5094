"""Every counter an SLO or a dashboard reads is on /metrics at 0 for each known label value
before the first request, so a first event is never lost to rate() (DESIGN.md, principles).

Each service is started in process (its lifespan runs) and scraped before any other
request; the series every SLO of slos/*.yaml selects are checked against that scrape.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from gameday.slo.spec import matches
from gameday.slo.validate import load_slos
from tests.procs import TEST_TOKEN

ROOT = Path(__file__).resolve().parents[2]
SLOS = load_slos([ROOT / "slos"])


@pytest.fixture(autouse=True)
def admin_token(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TEST_TOKEN)
    monkeypatch.delenv("GAMEDAY_ADMIN_TOKEN_FILE", raising=False)
    monkeypatch.delenv("GAMEDAY_FAULTS_FILE", raising=False)


def first_scrape(app) -> dict[tuple, float]:
    """{(name, sorted labels): value} of the app's /metrics, scraped before any request."""
    with TestClient(app) as client:
        text = client.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def selected(scrape: dict, selector) -> dict[tuple, float]:
    return {key: v for key, v in scrape.items() if key[0] == selector.metric
            and all(matches(m, dict(key[1]).get(m.label, "")) for m in selector.matchers)}


def value(scrape: dict, name: str, **labels) -> float | None:
    return scrape.get((name, tuple(sorted(labels.items()))))


def assert_slo_series_at_zero(scrape: dict, service: str) -> int:
    """Every selector of every SLO that reads this service's metrics matches series at 0."""
    exported = {name for name, _ in scrape}
    checked = 0
    for slo in SLOS:
        ind = slo.indicator
        for part in (ind.bad, ind.good, ind.total):
            if part is None or part.metric not in exported or not all(
                    matches(m, service) for m in part.matchers if m.label == "service"):
                continue
            found = selected(scrape, part)
            assert found, f"slo {slo.name!r}: no series for {part.text()} before any request"
            assert set(found.values()) == {0.0}, f"{part.text()}: {found}"
            checked += 1
    return checked


def test_gateway_counters_exist_at_zero_before_any_request():
    from gameday_services.gateway.metrics import ANSWERS, FALLBACK_KINDS, OUTCOMES, UPSTREAMS
    from tests.integration.fake_upstreams import gateway_app, in_process_fakes

    scrape = first_scrape(gateway_app(in_process_fakes(), CollectorRegistry()))
    assert assert_slo_series_at_zero(scrape, "gateway") >= 4
    for answer in ANSWERS:  # model_degraded and every fallback and error included
        assert value(scrape, "gateway_classify_answers_total", answer=answer) == 0.0, answer
    for kind in FALLBACK_KINDS:
        assert value(scrape, "gateway_fallbacks_total", kind=kind) == 0.0, kind
    for upstream in UPSTREAMS:
        for outcome in OUTCOMES:
            assert value(scrape, "gateway_upstream_requests_total", upstream=upstream,
                         outcome=outcome) == 0.0, (upstream, outcome)
    # every code the classify and generate routes answer, by route template
    for route in ("/v1/classify", "/v1/generate"):
        for code in ("200", "429", "500", "502", "503", "504"):
            assert value(scrape, "http_requests_total", service="gateway", route=route,
                         method="POST", code=code) == 0.0, (route, code)


def test_classifier_counters_exist_at_zero_before_any_request():
    from gameday_services.classifier.app import create_app
    from gameday_services.classifier.metrics import OUTCOMES
    from gameday_services.classifier.settings import Settings

    settings = Settings(load_time_s=0, compute_base_ms=1, compute_per_item_ms=0,
                        max_queue_delay_ms=0)
    scrape = first_scrape(create_app(settings, CollectorRegistry()))
    assert assert_slo_series_at_zero(scrape, "classifier") >= 2
    versions = {dict(labels)["version"] for name, labels in scrape if name == "model_info"}
    assert {"v1", "v2"} <= versions
    for version in versions:
        for outcome in OUTCOMES:
            assert value(scrape, "model_predictions_total", model="classifier",
                         version=version, outcome=outcome) == 0.0, (version, outcome)
    for code in ("200", "500", "503"):
        assert value(scrape, "http_requests_total", service="classifier", route="/v1/predict",
                     method="POST", code=code) == 0.0, code


def test_features_counters_exist_at_zero_before_any_request(tmp_path):
    from gameday_services.features.app import create_app
    from gameday_services.features.metrics import QUERY_OUTCOMES
    from gameday_services.features.settings import Settings

    settings = Settings(load_time_s=0.05, entities=100, db_path=str(tmp_path / "f.db"))
    scrape = first_scrape(create_app(settings, CollectorRegistry()))
    assert assert_slo_series_at_zero(scrape, "features") >= 2
    for outcome in QUERY_OUTCOMES:
        assert value(scrape, "feature_store_queries_total", outcome=outcome) == 0.0, outcome
    for code in ("200", "500", "503"):
        assert value(scrape, "http_requests_total", service="features",
                     route="/v1/features/{entity_id}", method="GET", code=code) == 0.0, code


def test_llm_counters_exist_at_zero_before_any_request():
    from gameday_services.llm.app import create_app
    from gameday_services.llm.metrics import FINISH_REASONS
    from gameday_services.llm.settings import Settings

    scrape = first_scrape(create_app(Settings(load_time_s=0.0), CollectorRegistry()))
    assert_slo_series_at_zero(scrape, "llm")
    assert value(scrape, "llm_time_to_first_token_seconds_count") == 0.0
    assert value(scrape, "llm_time_to_first_token_seconds_bucket", le="1.0") == 0.0
    for reason in FINISH_REASONS:
        assert value(scrape, "llm_request_success_total", finished_reason=reason) == 0.0
    for code in ("200", "500", "503"):
        assert value(scrape, "http_requests_total", service="llm", route="/v1/generate",
                     method="POST", code=code) == 0.0, code


def test_every_slo_selector_is_checked_in_some_service():
    """No SLO reads a metric none of the scrapes above would show (a renamed counter)."""
    from gameday_services.classifier.metrics import ClassifierMetrics
    from gameday_services.features.metrics import FeatureMetrics
    from gameday_services.gateway.metrics import GatewayMetrics
    from gameday_services.llm.metrics import LlmMetrics

    exported = set()
    for metrics in (lambda r: ClassifierMetrics(r, ["v1"]), FeatureMetrics, GatewayMetrics,
                    LlmMetrics):
        registry = CollectorRegistry()  # one each: classifier and llm both export model_info
        metrics(registry)
        exported |= {s.name for family in registry.collect() for s in family.samples}
    exported |= {"http_requests_total", "http_request_duration_seconds_bucket",
                 "http_request_duration_seconds_count"}
    for slo in SLOS:
        for part in (slo.indicator.bad, slo.indicator.good, slo.indicator.total):
            if part is not None:
                assert part.metric in exported, f"slo {slo.name!r} reads {part.metric}"
