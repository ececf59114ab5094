"""Gateway settings from the environment (prefix ``GATEWAY_``).

Upstreams: ``GATEWAY_FEATURES_URL``, ``GATEWAY_CLASSIFIER_URLS`` (comma-separated),
``GATEWAY_LLM_URL``. Lever defaults are the policy sections, set with a double underscore:
``GATEWAY_RETRY__MAX_ATTEMPTS=2``, ``GATEWAY_ADMISSION__MAX_IN_FLIGHT=64``,
``GATEWAY_BALANCING__STRATEGY=least_outstanding`` (or a whole section as JSON:
``GATEWAY_BREAKER='{"cooldown_s": 2}'``).
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gameday_services.gateway.policy import (
    AdmissionPolicy,
    BalancingPolicy,
    BreakerPolicy,
    FallbackPolicy,
    Policy,
    RetryPolicy,
    Timeouts,
)


def parse_urls(value: object) -> list[str]:
    """A list of base URLs from a list, a JSON list or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        items = json.loads(text) if text.startswith("[") else text.split(",")
    else:
        items = list(value)
    urls = [str(u).strip().rstrip("/") for u in items]
    return [u for u in urls if u]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_nested_delimiter="__",
                                      extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    replica: str = "0"
    log_level: str = "INFO"
    load_time_s: float = Field(0.0, ge=0, description="Nothing to load: ready at once.")

    features_url: str = "http://127.0.0.1:8081"
    classifier_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8082", "http://127.0.0.1:8083"])
    llm_url: str = "http://127.0.0.1:8084"
    max_connections: int = Field(200, ge=1, le=10_000,
                                 description="Connection pool size per upstream client.")
    body_timeout_s: float = Field(
        2.0, gt=0, le=60,
        description="Longest time to receive the body of POST /v1/classify or /v1/generate, "
                    "from the end of its headers; then 408 and the connection is closed. "
                    "The request holds no admission slot until its body is in.")

    timeouts: Timeouts = Field(default_factory=Timeouts)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = Field(default_factory=BreakerPolicy)
    admission: AdmissionPolicy = Field(default_factory=AdmissionPolicy)
    fallbacks: FallbackPolicy = Field(default_factory=FallbackPolicy)
    balancing: BalancingPolicy = Field(default_factory=BalancingPolicy)

    @field_validator("classifier_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> list[str]:
        return parse_urls(value)

    @field_validator("features_url", "llm_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.strip().rstrip("/")

    def policy(self) -> Policy:
        """The levers as set at start."""
        return Policy(timeouts=self.timeouts, retry=self.retry, breaker=self.breaker,
                      admission=self.admission, fallbacks=self.fallbacks,
                      balancing=self.balancing)
