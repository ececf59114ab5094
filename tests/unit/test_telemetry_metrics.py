"""HTTP RED metrics kept as plain numbers: the samples a scrape sees are those
prometheus_client's own Counter, Histogram and Gauge would give for the same requests."""

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gameday.telemetry import conventions as c
from gameday.telemetry.metrics import HttpMetrics

ROUTES = ["/v1/predict", "/v1/features/{entity_id}", "<unmatched>"]


def samples(registry, names=("http_requests_total", "http_request_duration_seconds")):
    found = {}
    for family in registry.collect():
        for s in family.samples:
            if s.name.startswith(names) and not s.name.endswith("_created"):
                found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def reference(observations):
    registry = CollectorRegistry()
    requests = Counter("http_requests", "", c.HTTP_LABELS, registry=registry)
    duration = Histogram(c.HTTP_REQUEST_DURATION_SECONDS, "", c.HTTP_DURATION_LABELS,
                         buckets=c.LATENCY_BUCKETS, registry=registry)
    for route, method, code, seconds in observations:
        requests.labels("svc", route, method, str(code)).inc()
        duration.labels("svc", route, method).observe(seconds)
    return registry


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ROUTES), st.sampled_from(["GET", "POST"]),
                          st.sampled_from([200, 429, 500, 503]),
                          st.one_of(st.sampled_from(c.LATENCY_BUCKETS),
                                    st.floats(0, 60, allow_nan=False))),
                max_size=40))
def test_samples_match_prometheus_client_for_the_same_requests(observations):
    registry = CollectorRegistry()
    metrics = HttpMetrics("svc", registry)
    for obs in observations:
        metrics.observe(*obs)
    ours, theirs = samples(registry), samples(reference(observations))
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value), key


def test_an_observation_on_a_bucket_boundary_counts_as_at_most_that_bound():
    registry = CollectorRegistry()
    HttpMetrics("svc", registry).observe("/v1/predict", "POST", 200, 0.1)
    labels = {"service": "svc", "route": "/v1/predict", "method": "POST"}
    name = "http_request_duration_seconds_bucket"
    assert registry.get_sample_value(name, {**labels, "le": "0.075"}) == 0
    assert registry.get_sample_value(name, {**labels, "le": "0.1"}) == 1
    assert registry.get_sample_value(name, {**labels, "le": "+Inf"}) == 1
    assert registry.get_sample_value("http_request_duration_seconds_count", labels) == 1
    assert registry.get_sample_value("http_request_duration_seconds_sum", labels) == 0.1


def test_in_flight_is_a_gauge_of_the_service_and_families_register_once():
    registry = CollectorRegistry()
    metrics = HttpMetrics("svc", registry)
    metrics.in_flight = 3
    assert registry.get_sample_value("http_requests_in_flight", {"service": "svc"}) == 3
    text = generate_latest(registry).decode()
    assert "# TYPE http_requests_total counter" in text
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert "# TYPE http_requests_in_flight gauge" in text
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        HttpMetrics("svc", registry)


def test_a_scrape_from_another_thread_always_sees_whole_series():
    registry = CollectorRegistry()
    metrics = HttpMetrics("svc", registry)
    stop = threading.Event()

    def serve():
        i = 0
        while not stop.is_set():
            metrics.observe(ROUTES[i % 3], "GET", 200 + i % 7, (i % 50) / 100)
            i += 1

    server = threading.Thread(target=serve)
    server.start()
    try:
        for _ in range(200):
            for family in registry.collect():
                if family.name != "http_request_duration_seconds":
                    continue
                by_series = {}
                for s in family.samples:
                    key = (s.labels["route"], s.labels["method"])
                    by_series.setdefault(key, []).append(s)
                for series in by_series.values():
                    buckets = [s.value for s in series if s.name.endswith("_bucket")]
                    count = [s.value for s in series if s.name.endswith("_count")][0]
                    assert buckets == sorted(buckets)  # cumulative
                    assert count == buckets[-1]  # _count is the +Inf bucket
    finally:
        stop.set()
        server.join()
