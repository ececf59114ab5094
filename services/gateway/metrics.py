"""Gateway domain metrics (DESIGN.md, Conventions: upstream requests by outcome, retries,
retry-budget exhaustion, circuit state, shed requests, fallbacks), on an injected registry.

Label values are bounded: upstream names, a fixed set of outcomes, reasons and fallback
kinds, and the configured replica URLs.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gameday.telemetry.conventions import LATENCY_BUCKETS
from services.gateway.breaker import STATE_VALUES

UPSTREAMS = ("features", "classifier", "llm")
OUTCOMES = ("success", "error", "timeout", "connect_error", "rejected")
SHED_REASONS = ("max_in_flight", "adaptive_limit", "adaptive_throttle")
FALLBACK_KINDS = ("default_features", "cached_answer", "most_frequent_class")
# Who answered a classify request that got a 200: the live model (possibly on default or
# stale features), the cache of earlier answers, or a most-frequent-class guess.
ANSWERS = ("model", "model_degraded", "cached", "guess")


def answer_kind(reasons: list[str]) -> str:
    if "most_frequent_class" in reasons:
        return "guess"
    if "cached_answer" in reasons:
        return "cached"
    return "model_degraded" if reasons else "model"


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.upstream_requests = Counter(
            "gateway_upstream_requests",
            "Attempts to call an upstream, by outcome. 'rejected': not sent, because the "
            "circuit was open, the call was throttled or no replica was left.",
            ["upstream", "outcome"], registry=registry)
        self.upstream_duration = Histogram(
            "gateway_upstream_request_duration_seconds",
            "Duration of one attempt on an upstream (to the first chunk for streams).",
            ["upstream"], buckets=LATENCY_BUCKETS, registry=registry)
        self.retries = Counter(
            "gateway_retries", "Retries sent to an upstream.", ["upstream"], registry=registry)
        self.budget_exhausted = Counter(
            "gateway_retry_budget_exhausted",
            "Retryable failures returned without retry because the retry budget was spent.",
            ["upstream"], registry=registry)
        self.circuit_state = Gauge(
            "gateway_circuit_state",
            "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
            ["upstream"], registry=registry)
        self.shed = Counter(
            "gateway_shed_requests",
            "Requests shed by the gateway's own overload protection, by reason.",
            ["reason"], registry=registry)
        self.concurrency_limit = Gauge(
            "gateway_concurrency_limit",
            "Requests in flight the gateway admits on /v1/classify now: the adaptive limit "
            "when admission.adaptive_limit is on, else admission.max_in_flight.",
            registry=registry)
        self.classify_answers = Counter(
            "gateway_classify_answers",
            "Classify requests answered (200), by who answered: model, model_degraded "
            "(default or stale features), cached, guess (most frequent class). The "
            "availability SLO counts only the live model's answers as good.",
            ["answer"], registry=registry)
        for kind in ANSWERS:
            self.classify_answers.labels(kind)
        self.fallbacks = Counter(
            "gateway_fallbacks", "Degraded answers served, by fallback kind.",
            ["kind"], registry=registry)
        self.ejected = Gauge(
            "gateway_upstream_ejected",
            "1 while a replica (endpoint: its URL) is ejected from its upstream's pool, else 0.",
            ["upstream", "endpoint"], registry=registry)
        self.ejections = Counter(
            "gateway_ejections", "Replicas ejected (by outlier detection or by hand).",
            ["upstream"], registry=registry)
        for upstream in UPSTREAMS:
            for outcome in OUTCOMES:
                self.upstream_requests.labels(upstream, outcome)
            self.upstream_duration.labels(upstream)
            self.retries.labels(upstream)
            self.budget_exhausted.labels(upstream)
            self.circuit_state.labels(upstream).set(0)
            self.ejections.labels(upstream)
        for reason in SHED_REASONS:
            self.shed.labels(reason)
        for kind in FALLBACK_KINDS:
            self.fallbacks.labels(kind)

    def observe_attempt(self, upstream: str, outcome: str, seconds: float | None) -> None:
        self.upstream_requests.labels(upstream, outcome).inc()
        if seconds is not None:
            self.upstream_duration.labels(upstream).observe(seconds)

    def set_circuit_state(self, upstream: str, state: str) -> None:
        self.circuit_state.labels(upstream).set(STATE_VALUES[state])

    def set_ejected(self, upstream: str, replica: str, ejected: bool) -> None:
        self.ejected.labels(upstream, replica).set(1 if ejected else 0)
        if ejected:
            self.ejections.labels(upstream).inc()

    def forget_replica(self, upstream: str, replica: str) -> None:
        try:
            self.ejected.remove(upstream, replica)
        except KeyError:
            pass
