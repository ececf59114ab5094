"""Domain metrics of the llm service, named like vLLM's, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gameday.telemetry.conventions import LATENCY_BUCKETS, TOKEN_LATENCY_BUCKETS

FINISH_REASONS = ("stop", "length")


class LlmMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.ttft = Histogram(
            "llm_time_to_first_token_seconds",
            "Time from request arrival to its first generated token, in seconds.",
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.itl = Histogram(
            "llm_inter_token_latency_seconds",
            "Time between two consecutive tokens of one request, in seconds.",
            buckets=TOKEN_LATENCY_BUCKETS, registry=registry,
        )
        self.e2e = Histogram(
            "llm_e2e_request_latency_seconds",
            "Time from request arrival to its last token, for finished requests, in seconds.",
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.queue_time = Histogram(
            "llm_request_queue_time_seconds",
            "Time a request waited for a KV-cache slot before it first ran, in seconds.",
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.running = Gauge(
            "llm_requests_running", "Requests holding a KV-cache slot.", registry=registry)
        self.waiting = Gauge(
            "llm_requests_waiting", "Requests waiting for a KV-cache slot.", registry=registry)
        self.kv_cache_usage = Gauge(
            "llm_kv_cache_usage_ratio",
            "Fraction of the KV cache in use (1 = full).", registry=registry)
        self.preemptions = Counter(
            "llm_preemptions",
            "Running requests evicted from the KV cache, to be recomputed later.",
            registry=registry)
        self.generation_tokens = Counter(
            "llm_generation_tokens", "Tokens generated.", registry=registry)
        self.prompt_tokens = Counter(
            "llm_prompt_tokens", "Prompt tokens prefilled (first time only).", registry=registry)
        self.request_success = Counter(
            "llm_request_success",
            "Requests finished, by reason: stop (end of text) or length (max_tokens).",
            ["finished_reason"], registry=registry)
        for reason in FINISH_REASONS:
            self.request_success.labels(reason)
        self.model_info = Gauge(
            "model_info", "The model being served (value 1).", ["model", "version"],
            registry=registry)
