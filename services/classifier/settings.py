"""Settings of the classifier, from the environment (prefix ``CLASSIFIER_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gameday_services.classifier.model import MODELS_DIR

MIB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLASSIFIER_", protected_namespaces=())

    host: str = "127.0.0.1"
    port: int = Field(8082, ge=0, le=65535)
    replica: str = "0"
    log_level: str = "INFO"
    load_time_s: float = Field(1.0, ge=0, description="cold start: time to load the model")

    # Model versions
    model_version: str = Field("v1", description="version served at start")
    models_dir: Path = MODELS_DIR

    # Dynamic batching (like Triton's dynamic_batching / Ray Serve's @serve.batch)
    max_batch_size: int = Field(16, ge=1, le=64, description="rows per batch; larger "
                                "requests are refused with 422")
    max_queue_delay_ms: float = Field(5.0, ge=0, description="longest wait for a batch to fill, "
                                      "from its oldest request")
    max_queue_size: int = Field(64, ge=1, description="queued requests; beyond: 503")
    retry_after_s: int = Field(1, ge=1, description="Retry-After on 503 when the queue is full")

    # Simulated accelerator: compute cost of a batch, sleeping in the worker thread
    compute_base_ms: float = Field(8.0, ge=0)
    compute_per_item_ms: float = Field(1.0, ge=0)
    model_memory_bytes: int = Field(1536 * MIB, ge=0, description="device memory the loaded "
                                    "weights take")
    activation_bytes_per_item: int = Field(24 * MIB, ge=0, description="device memory per "
                                           "queued or running row")
    utilization_window_s: float = Field(5.0, gt=0)
    temperature_idle_c: float = 35.0
    temperature_full_load_c: float = 85.0
    temperature_throttle_c: float = 93.0
    temperature_time_constant_s: float = Field(4.0, gt=0)
    accelerator_tick_s: float = Field(0.2, gt=0, description="device simulation step; also how "
                                      "often device faults are looked up")
