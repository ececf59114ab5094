"""Settings of the llm service, from LLM_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_")

    host: str = "127.0.0.1"
    port: int = 8084
    replica: str = "0"
    log_level: str = "INFO"
    load_time_s: float = Field(0.5, ge=0, le=600,
                               description="Cold start before the model trains; /readyz is 503.")

    corpus_dir: str | None = Field(
        None, description="Folder of *.txt files to train on; default: the shipped corpus.")
    kv_slots: int = Field(8, ge=1, le=1024, description="KV-cache slots: requests running at once.")
    max_waiting: int = Field(32, ge=0, le=100_000,
                             description="Requests that may wait for a slot; beyond, 503.")
    token_ms: float = Field(10.0, ge=0, le=10_000, description="Compute per decode step.")
    batch_slowdown: float = Field(0.05, ge=0, le=10,
                                  description="Extra step time per additional running request, "
                                              "as a fraction of token_ms.")
    prefill_ms: float = Field(2.0, ge=0, le=60_000, description="Fixed cost of a prefill.")
    prefill_ms_per_token: float = Field(
        0.5, ge=0, le=10_000, description="Prefill cost per prompt (or recomputed) token.")
    retry_after_s: int = Field(1, ge=1, le=3600, description="Retry-After when overloaded.")
