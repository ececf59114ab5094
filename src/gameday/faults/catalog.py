"""The fault types gameday knows, each with its parameters.

Generic types work on any app that mounts the fault middleware. Service-specific types are
data the service itself reads from the fault store (``store.active("bad_model")``) and acts
on; a service lists the specific types it honours when it installs the faults.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatencyParams(Params):
    """Delay every matching request by delay_ms plus a uniform jitter in [0, jitter_ms]."""

    delay_ms: float = Field(200.0, ge=0, le=120_000)
    jitter_ms: float = Field(0.0, ge=0, le=120_000)


class ErrorParams(Params):
    """Answer matching requests with this status code instead of serving them."""

    status: int = Field(500, ge=400, le=599)
    message: str = "injected fault"


class AbortParams(Params):
    """Close the connection without sending any response."""


class HangParams(Params):
    """Hold matching requests without answering, for max_s or until the fault expires."""

    max_s: float | None = Field(None, gt=0, le=3600)


class CpuBurnParams(Params):
    """Busy threads in the service process competing with request handling."""

    threads: int = Field(1, ge=1, le=8)
    duty: float = Field(1.0, gt=0, le=1.0)


class MemoryLeakParams(Params):
    """Allocate and hold mb_per_s megabytes each second, up to cap_mb; freed on expiry."""

    mb_per_s: float = Field(10.0, gt=0, le=1024)
    cap_mb: float = Field(512.0, gt=0, le=16_384)


class CrashParams(Params):
    """Exit the process: delay_s after the fault is added, or on a matching request."""

    on_request: bool = False
    delay_s: float = Field(0.2, ge=0, le=3600)
    exit_code: int = Field(1, ge=1, le=255)


class BadModelParams(Params):
    """Serve a broken model: 'nan' outputs or 'degraded' (wrong) predictions."""

    mode: Literal["nan", "degraded"] = "degraded"


class SlowModelLoadParams(Params):
    """Reload the model, taking load_s seconds, during which /readyz is false."""

    load_s: float = Field(10.0, gt=0, le=600)


class AcceleratorThrottleParams(Params):
    """Thermal throttling: inference runs slowdown times slower, temperature rises."""

    slowdown: float = Field(4.0, ge=1, le=100)


class XidErrorsParams(Params):
    """Burst of accelerator XID errors; inferences fail with 'failed_fraction' probability."""

    xid: int = Field(79, ge=1, le=200)
    per_s: float = Field(2.0, gt=0, le=1000)
    failed_fraction: float = Field(1.0, ge=0, le=1)


class KvCachePressureParams(Params):
    """Take KV-cache slots away; running requests beyond the rest are preempted."""

    slots_lost: int = Field(0, ge=0, le=1024)
    fraction_lost: float = Field(0.75, ge=0, le=1)


class SlowStoreParams(Params):
    """Every store query takes delay_ms longer."""

    delay_ms: float = Field(300.0, ge=0, le=120_000)


class StaleStoreParams(Params):
    """The store serves features as they were age_s seconds ago, flagged stale."""

    age_s: float = Field(3600.0, gt=0, le=30 * 86400)


GENERIC: dict[str, type[Params]] = {
    "latency": LatencyParams,
    "error": ErrorParams,
    "abort": AbortParams,
    "hang": HangParams,
    "cpu_burn": CpuBurnParams,
    "memory_leak": MemoryLeakParams,
    "crash": CrashParams,
}

SPECIFIC: dict[str, type[Params]] = {
    "bad_model": BadModelParams,
    "slow_model_load": SlowModelLoadParams,
    "accelerator_throttle": AcceleratorThrottleParams,
    "xid_errors": XidErrorsParams,
    "kv_cache_pressure": KvCachePressureParams,
    "slow_store": SlowStoreParams,
    "stale_store": StaleStoreParams,
}

# Which service honours which specific fault type.
SERVICE_TYPES: dict[str, tuple[str, ...]] = {
    "classifier": ("bad_model", "slow_model_load", "accelerator_throttle", "xid_errors"),
    "llm": ("kv_cache_pressure",),
    "features": ("slow_store", "stale_store"),
    "gateway": (),
}

REQUEST_TYPES = ("latency", "error", "abort", "hang", "crash")
PROCESS_TYPES = ("cpu_burn", "memory_leak", "crash")


def types_for(service: str, extra: tuple[str, ...] = ()) -> dict[str, type[Params]]:
    """Every fault type a service accepts: the generic ones plus its specific ones."""
    names = SERVICE_TYPES.get(service, ()) + tuple(extra)
    return {**GENERIC, **{n: SPECIFIC[n] for n in names}}


def describe(types: dict[str, type[Params]]) -> list[dict]:
    return [
        {"type": name, "doc": (model.__doc__ or "").strip(), "params": model.model_json_schema()}
        for name, model in types.items()
    ]
