"""Gateway domain metrics (DESIGN.md, Conventions: upstream requests by outcome, retries,
retry-budget exhaustion, circuit state, shed requests, fallbacks), on an injected registry,
and the token latencies of /v1/generate as the client sees them.

Label values are bounded: upstream names, a fixed set of outcomes, reasons and fallback
kinds, and the configured replica URLs.
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from gameday.telemetry.conventions import LATENCY_BUCKETS, TOKEN_LATENCY_BUCKETS
from gameday_services.gateway.breaker import STATE_VALUES

UPSTREAMS = ("features", "classifier", "llm")
OUTCOMES = ("success", "error", "timeout", "connect_error", "rejected")
SHED_REASONS = ("max_in_flight", "adaptive_limit", "adaptive_throttle")
FALLBACK_KINDS = ("default_features", "cached_answer", "most_frequent_class")
# What became of a /v1/generate request that reached its route (admitted, valid body):
# first_token (one was sent to the client), failed (none ever was: a 5xx or timeout answer,
# or a stream that ended or broke before one), refused (an llm 4xx handed on as it is).
GENERATE_OUTCOMES = ("first_token", "failed", "refused")
# Who answered a classify request (client errors aside): the live model (possibly on
# default or stale features), the cache of earlier answers, a most-frequent-class guess
# (all three a 200), or nobody: error, a 5xx from the gateway's route or admission.
ANSWERS = ("model", "model_degraded", "cached", "guess", "error")


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
        self.loop_lag = Gauge(
            "gateway_event_loop_lag_seconds",
            "How late the gateway's event loop ran its last 50 ms timer: work queued in "
            "front of the loop, which requests in flight do not show.",
            registry=registry)
        self.classify_answers = Counter(
            "gateway_classify_answers",
            "Classify requests answered, client errors aside, by who answered: model, "
            "model_degraded (default or stale features), cached, guess (most frequent "
            "class), error (a 5xx, nobody). The availability SLO counts cached, guess and "
            "error as bad.",
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
        self.streams = StreamMetrics(registry)

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


class StreamMetrics:
    """Time to first token and inter-token latency of /v1/generate as the client sees them,
    and what became of each generate request (``GENERATE_OUTCOMES``).

    The clock starts when the route takes the request and stops when the gateway hands a
    token event to the server for the client, so it includes the upstream call, its
    retries, the llm's queue and the network; the llm's own histograms see only the engine.
    A request answered without any token counts in ``failed`` and never in the histogram:
    the TTFT SLI divides the fast first tokens by first_token + failed, so failures cannot
    make it look better.

    Plain numbers, as in gameday.telemetry.metrics: an update per token takes no lock (the
    event loop thread is the only writer), a scrape copies each list at once. A scrape
    copies the histograms before the outcomes and an outcome is counted before its first
    token is observed, so a scrape never shows more fast first tokens than outcomes.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = dict.fromkeys(GENERATE_OUTCOMES, 0)
        # [sum, count in bucket 0, ..., count in bucket n-1, count above the last bound]
        self.ttft = [0.0] * (len(LATENCY_BUCKETS) + 2)
        self.itl = [0.0] * (len(TOKEN_LATENCY_BUCKETS) + 2)
        registry.register(_StreamCollector(self))

    def first_token(self, seconds: float) -> None:
        self.outcomes["first_token"] += 1
        histogram = self.ttft
        histogram[0] += seconds
        histogram[bisect_left(LATENCY_BUCKETS, seconds) + 1] += 1

    def inter_token(self, seconds: float) -> None:
        histogram = self.itl
        histogram[0] += seconds
        histogram[bisect_left(TOKEN_LATENCY_BUCKETS, seconds) + 1] += 1

    def settle(self, outcome: str) -> None:
        """Count a request that ended without a token: ``failed`` or ``refused``."""
        self.outcomes[outcome] += 1

    def collect(self):
        ttft, itl = list(self.ttft), list(self.itl)  # before the outcomes (see above)
        outcomes = dict(self.outcomes)
        yield _histogram(
            "gateway_time_to_first_token_seconds",
            "Time from the gateway taking a /v1/generate request to the first token event "
            "it sends to the client, in seconds (requests with no token: "
            "gateway_generate_requests_total{outcome=\"failed\"}).",
            LATENCY_BUCKETS, ttft)
        yield _histogram(
            "gateway_inter_token_latency_seconds",
            "Time between two consecutive token events the gateway sends to a /v1/generate "
            "client, in seconds.", TOKEN_LATENCY_BUCKETS, itl)
        requests = CounterMetricFamily(
            "gateway_generate_requests",
            "/v1/generate requests that reached the route, by outcome: first_token (sent), "
            "failed (no token ever: 5xx, timeout, or a stream that ended or broke before "
            "one), refused (an llm 4xx handed on).", labels=["outcome"])
        for outcome, n in outcomes.items():
            requests.add_metric([outcome], n)
        yield requests


def _histogram(name: str, documentation: str, bounds, snapshot: list) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation)
    cumulative, total = [], 0
    for edge, n in zip([*map(floatToGoString, bounds), "+Inf"], snapshot[1:], strict=True):
        total += n
        cumulative.append((edge, total))
    family.add_metric([], cumulative, snapshot[0])
    return family


class _StreamCollector:
    def __init__(self, metrics: StreamMetrics) -> None:
        self.metrics = metrics

    def collect(self):
        return self.metrics.collect()

    def describe(self):  # names only, so a second registration of them fails at once
        return [HistogramMetricFamily("gateway_time_to_first_token_seconds", ""),
                HistogramMetricFamily("gateway_inter_token_latency_seconds", ""),
                CounterMetricFamily("gateway_generate_requests", "", labels=["outcome"])]
