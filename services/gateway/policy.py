"""The gateway's resilience levers as one validated model.

Each section is set at start from settings (``GATEWAY_RETRY__MAX_ATTEMPTS=2``) and can be
changed at runtime through ``PATCH /admin/policy`` (``{"retry": {"max_attempts": 2}}``).
Components read the current policy on every call, so a change applies to the next request.

Defaults cite their source: at most 3 attempts and a ~10% retry budget (SRE book, "Handling
Overload"), adaptive throttling K = 2 (same chapter), outlier ejection after 5 consecutive
failures with a 30 s base ejection time (Envoy outlier detection defaults).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from gameday.errors import ValidationError
from gameday.faults.store import format_pydantic_error

FEATURE_COUNT = 8


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Timeouts(Section):
    """Per-upstream timeouts, in seconds, for one attempt."""

    features_s: float = Field(0.5, gt=0, le=60, description="Whole feature lookup.")
    classifier_s: float = Field(1.0, gt=0, le=60, description="Whole prediction call.")
    connect_s: float = Field(0.25, gt=0, le=30,
                             description="TCP connect to the feature store or a classifier.")
    llm_connect_s: float = Field(0.5, gt=0, le=30)
    llm_read_s: float = Field(10.0, gt=0, le=600, description="Longest gap between two chunks.")
    llm_ttft_s: float = Field(5.0, gt=0, le=600,
                              description="Time to first token; the stream starts after it.")


class RetryPolicy(Section):
    """Retries with exponential backoff, full jitter and a retry budget."""

    max_attempts: int = Field(3, ge=1, le=10, description="Attempts in all, first included.")
    backoff_base_s: float = Field(0.025, ge=0, le=10)
    backoff_max_s: float = Field(0.5, ge=0, le=60)
    retry_after_max_s: float = Field(
        1.0, ge=0, le=60,
        description="An upstream Retry-After up to this is honoured; longer means no retry.")
    budget_ratio: float = Field(0.1, ge=0, le=1, description="Retries per request allowed.")
    budget_window_s: float = Field(10.0, ge=1, le=600)
    budget_min_retries: int = Field(3, ge=0, le=1000,
                                    description="Retries always allowed per window (burst).")


class BreakerPolicy(Section):
    """Circuit breaker per upstream: closed -> open -> half-open -> closed."""

    enabled: bool = True
    consecutive_failures: int = Field(5, ge=1, le=1000)
    error_ratio: float = Field(0.5, gt=0, le=1)
    window_s: float = Field(10.0, ge=1, le=600)
    min_requests: int = Field(20, ge=1, le=100_000,
                              description="Attempts in the window before the ratio counts.")
    cooldown_s: float = Field(5.0, ge=0, le=3600, description="Open time before probing.")
    half_open_probes: int = Field(1, ge=1, le=100,
                                  description="Probes let through; that many successes close.")


class AdmissionPolicy(Section):
    """Load shedding at the gateway and client-side adaptive throttling of upstreams.

    ``adaptive_limit``: a gradient concurrency limit on /v1/classify that follows the latency
    of admitted requests (services/gateway/limiter.py); ``max_in_flight`` stays the hard
    ceiling over /v1/classify and /v1/generate. Off by default: the shipped gateway keeps a
    fixed cap, which drills lower by hand.
    """

    max_in_flight: int = Field(256, ge=1, le=100_000)
    shed_status: Literal[429, 503] = 429
    retry_after_s: int = Field(1, ge=0, le=3600)
    adaptive_limit: bool = False
    limit_target_latency_s: float = Field(
        0.1, gt=0, le=60,
        description="Ceiling on the mean admitted classify latency the adaptive limit "
                    "accepts as unqueued, whatever limit_tolerance x the no-load latency.")
    limit_tolerance: float = Field(
        4.0, ge=1, le=10,
        description="Mean latency up to this multiple of the no-load latency counts as no "
                    "queue (Netflix GradientLimit's rttTolerance).")
    limit_smoothing: float = Field(0.2, gt=0, le=1,
                                   description="Share of each step the adaptive limit takes.")
    limit_probe_interval_s: float = Field(
        30.0, ge=1, le=3600,
        description="How often the no-load latency is measured again (limit at a quarter).")
    limit_min: int = Field(2, ge=1, le=100_000,
                           description="The adaptive limit never goes below this.")
    limit_window_s: float = Field(0.25, ge=0.01, le=60,
                                  description="Shortest window between two adjustments.")
    limit_max_loop_lag_s: float = Field(
        0.05, gt=0, le=10,
        description="With the adaptive limit on, classify requests are refused with a "
                    "probability rising from 0 at this event-loop lag to 1 at twice it "
                    "(services/gateway/looplag.py).")
    adaptive_throttling: bool = False
    throttle_k: float = Field(2.0, ge=1, le=10)
    throttle_window_s: float = Field(60.0, ge=1, le=3600)

    @field_validator("shed_status", mode="before")
    @classmethod
    def _status_from_text(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value


class FallbackPolicy(Section):
    """Degraded answers instead of errors, each switchable."""

    default_features: bool = True
    cached_answer: bool = True
    most_frequent_class: bool = True
    cache_size: int = Field(1024, ge=1, le=1_000_000)
    cache_max_age_s: float = Field(300.0, gt=0, le=86_400)
    default_feature_vector: list[float] | None = Field(
        None, description="Features used when the store fails; null: the mean of recent "
                          "lookups (zeros before any).",
        examples=[[0.0] * FEATURE_COUNT])

    @field_validator("default_feature_vector")
    @classmethod
    def _eight_finite(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return value
        if len(value) != FEATURE_COUNT:
            raise ValueError(f"needs {FEATURE_COUNT} values, got {len(value)}")
        if not all(math.isfinite(v) for v in value):
            raise ValueError("values must be finite")
        return value


class BalancingPolicy(Section):
    """Load balancing across replicas and Envoy-like outlier ejection."""

    strategy: Literal["round_robin", "least_outstanding", "power_of_two"] = "round_robin"
    outlier_detection: bool = True
    consecutive_failures: int = Field(5, ge=1, le=1000)
    base_ejection_s: float = Field(30.0, ge=0, le=3600)
    max_ejection_s: float = Field(300.0, ge=0, le=86_400)
    max_ejection_percent: int = Field(50, ge=0, le=100)


class Policy(Section):
    timeouts: Timeouts = Field(default_factory=Timeouts)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = Field(default_factory=BreakerPolicy)
    admission: AdmissionPolicy = Field(default_factory=AdmissionPolicy)
    fallbacks: FallbackPolicy = Field(default_factory=FallbackPolicy)
    balancing: BalancingPolicy = Field(default_factory=BalancingPolicy)


def merge(base: dict, patch: dict) -> dict:
    """``base`` with ``patch`` applied: nested objects merge, anything else replaces."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def validate_policy_update(base: Policy, patch: Any) -> Policy:
    """The policy ``base`` updated with ``patch``, or ValidationError naming field and value."""
    if not isinstance(patch, dict):
        raise ValidationError(f"policy: the body must be a JSON object, got {patch!r}")
    try:
        return Policy.model_validate(merge(base.model_dump(), patch))
    except PydanticValidationError as err:
        raise ValidationError(format_pydantic_error("policy", err)) from None
