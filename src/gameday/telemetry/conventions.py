"""Metric names, label names and histogram buckets shared by every service.

Prometheus naming: base units, ``_total`` counters, ``_seconds``, ``_bytes``, ``_ratio``.
Latency buckets put every SLO threshold the shipped SLOs use on a bucket boundary, so a
latency SLI can be computed as ``_bucket{le="T"} / _count``.
"""

HTTP_REQUESTS_TOTAL = "http_requests_total"
HTTP_REQUEST_DURATION_SECONDS = "http_request_duration_seconds"
HTTP_REQUESTS_IN_FLIGHT = "http_requests_in_flight"

HTTP_LABELS = ("service", "route", "method", "code")
HTTP_DURATION_LABELS = ("service", "route", "method")

# Thresholds that SLOs may use must be listed here (0.1, 0.25, 0.3, 0.5, 1, 2 ...).
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
    0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0,
)

# Token-level latencies of the LLM are an order of magnitude smaller.
TOKEN_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.075, 0.1,
    0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0,
)

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

# Paths that are never counted as traffic: scraping and the admin API. Faults stay
# invisible in /metrics, so admin calls must not show up there either.
UNCOUNTED_PREFIXES = ("/metrics", "/admin")

UNMATCHED_ROUTE = "<unmatched>"
