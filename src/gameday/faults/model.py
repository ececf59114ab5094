"""A fault: what breaks, where, how often and for how long."""

from __future__ import annotations

import fnmatch
import random
import time
import uuid

from pydantic import BaseModel, ConfigDict, Field

MAX_TTL_S = 3600.0
DEFAULT_ROUTE = "/v1/*"


class FaultSpec(BaseModel):
    """What a client asks for. The TTL is required: nothing stays broken past it."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(examples=["latency"])
    params: dict = Field(default_factory=dict, examples=[{"delay_ms": 500, "jitter_ms": 100}])
    route: str = Field(
        DEFAULT_ROUTE,
        description="Glob on the request path; /metrics and /admin are never affected.",
        examples=["/v1/*"],
    )
    probability: float = Field(1.0, ge=0.0, le=1.0)
    ttl_s: float = Field(gt=0, le=MAX_TTL_S, examples=[60])


class Fault(BaseModel):
    id: str
    type: str
    params: dict
    route: str
    probability: float
    ttl_s: float
    created_at: float
    expires_at: float

    @classmethod
    def from_spec(cls, spec: FaultSpec, params: dict, now: float | None = None) -> Fault:
        now = time.time() if now is None else now
        return cls(
            id=uuid.uuid4().hex[:12],
            type=spec.type,
            params=params,
            route=spec.route,
            probability=spec.probability,
            ttl_s=spec.ttl_s,
            created_at=now,
            expires_at=now + spec.ttl_s,
        )

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at

    def remaining_s(self, now: float | None = None) -> float:
        return max(0.0, self.expires_at - (time.time() if now is None else now))

    def matches(self, path: str) -> bool:
        return fnmatch.fnmatchcase(path, self.route)

    def roll(self, rng: random.Random | None = None) -> bool:
        """True with the fault's probability."""
        if self.probability >= 1.0:
            return True
        return (rng or random).random() < self.probability
