"""Key metrics of each service, read from its /metrics, as rows a person can read."""

from __future__ import annotations

from gameday.engine.exposition import Sample, fetch, quantile, total


def _http(samples: list[Sample], route_prefix: str = "/v1/") -> dict:
    reqs = [s for s in samples if s.name == "http_requests_total"
            and s.label("route").startswith(route_prefix)]
    n = sum(s.value for s in reqs)
    errors = sum(s.value for s in reqs if s.label("code").startswith("5"))
    return {
        "requests": n,
        "error_ratio": errors / n if n else 0.0,
        "p50_s": quantile(samples, 0.5, "http_request_duration_seconds"),
        "p95_s": quantile(samples, 0.95, "http_request_duration_seconds"),
    }


def _gauge(samples: list[Sample], name: str, **match: str) -> float:
    return total(samples, name, **match)


def _classifier(samples: list[Sample]) -> dict:
    live = [s.label("version") for s in samples if s.name == "model_info" and s.value == 1]
    batches = total(samples, "model_batch_size_count")
    return {
        "model_version": ",".join(live) or "?",
        "mean_batch": total(samples, "model_batch_size_sum") / batches if batches else 0.0,
        "correct": total(samples, "model_predictions_total", outcome="correct"),
        "incorrect": total(samples, "model_predictions_total", outcome="incorrect"),
        "gpu_util": _gauge(samples, "accelerator_utilization_ratio"),
        "gpu_temp_c": _gauge(samples, "accelerator_temperature_celsius"),
    }


def _llm(samples: list[Sample]) -> dict:
    return {
        "ttft_p50_s": quantile(samples, 0.5, "llm_time_to_first_token_seconds"),
        "itl_p50_s": quantile(samples, 0.5, "llm_inter_token_latency_seconds"),
        "tokens": total(samples, "llm_generation_tokens_total"),
        "kv_cache": _gauge(samples, "llm_kv_cache_usage_ratio"),
        "preemptions": total(samples, "llm_preemptions_total"),
    }


def _features(samples: list[Sample]) -> dict:
    return {
        "hits": total(samples, "feature_store_queries_total", outcome="hit"),
        "misses": total(samples, "feature_store_queries_total", outcome="miss"),
    }


def _gateway(samples: list[Sample]) -> dict:
    return {
        "retries": total(samples, "gateway_retries_total"),
        "shed": total(samples, "gateway_shed_requests_total"),
        "fallbacks": total(samples, "gateway_fallbacks_total"),
        "budget_exhausted": total(samples, "gateway_retry_budget_exhausted_total"),
    }


DOMAIN = {"classifier": _classifier, "llm": _llm, "features": _features, "gateway": _gateway}


def key_metrics(name: str, url: str) -> dict:
    """HTTP RED numbers plus the domain numbers that matter for one service."""
    samples, _ = fetch(url)
    row = _http(samples)
    extra = DOMAIN.get(name)
    if extra:
        row.update(extra(samples))
    return row


def format_value(key: str, value) -> str:
    if isinstance(value, str):
        return value
    if value != value:  # NaN: nothing observed yet
        return "-"
    if key.endswith("_s"):
        return f"{value * 1000:.1f} ms"
    if key.endswith("ratio") or key in ("gpu_util", "kv_cache"):
        return f"{value:.1%}"
    if key.endswith("_c"):
        return f"{value:.1f} C"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.2f}"
