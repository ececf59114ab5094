"""Settings of the feature store, from FEATURES_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FEATURES_")

    host: str = "127.0.0.1"
    port: int = 8081
    replica: str = "0"
    log_level: str = "INFO"
    load_time_s: float = Field(0.2, ge=0, le=600, description="Cold start before seeding.")

    entities: int = Field(1000, ge=1, le=1_000_000, description="Entities seeded at start.")
    seed: int = Field(0, ge=0, description="Seed passed to the dataset's make_entity.")
    db_path: str | None = Field(
        None, description="SQLite file, recreated at start if it is a feature store gameday "
                          "made (refused otherwise); default: a fresh temporary folder.")
    db_force: bool = Field(False, description="Replace whatever file is at db_path, even one "
                                              "gameday did not make.")
    pool_size: int = Field(4, ge=1, le=64, description="Connections (threads) serving queries.")
    refresh_interval_s: float = Field(5.0, gt=0, le=3600,
                                      description="How often current feature values are rewritten.")
    drift_ratio: float = Field(0.05, ge=0, le=1,
                               description="Amplitude of the slow drift, in feature std units.")
    drift_period_s: float = Field(7200.0, gt=0, description="Period of the slow drift.")
