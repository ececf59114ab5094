"""Request and response bodies of the feature store API, with OpenAPI examples."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, Field

ENTITY_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"

EntityId = Annotated[str, Path(
    pattern=ENTITY_ID_PATTERN,
    description="Entity id: letters, digits, '_', '.', ':' or '-', at most 64 characters. "
                "Seeded ids are e0000, e0001, ...",
    examples=["e0042"],
)]

EXAMPLE_FEATURES = [0.42, -1.3, 0.07, 2.11, -0.58, 0.9, -0.21, 1.05]


class FeatureVector(BaseModel):
    entity_id: str = Field(examples=["e0042"])
    features: list[float] = Field(examples=[EXAMPLE_FEATURES],
                                  description="8 values, in the order of feature_names.")
    feature_names: list[str] = Field(examples=[[f"f{j}" for j in range(8)]])
    updated_at: float = Field(examples=[1767225600.0],
                              description="When these values were written (Unix time).")
    age_s: float = Field(examples=[2.5], description="Seconds since updated_at.")
    stale: bool = Field(examples=[False],
                        description="True when the store served an old snapshot.")


class EntityLabel(BaseModel):
    entity_id: str = Field(examples=["e0042"])
    label: int = Field(examples=[1], description="The entity's true class.")


class EntitiesInfo(BaseModel):
    count: int = Field(examples=[1000])
    first: str | None = Field(examples=["e0000"])
    last: str | None = Field(examples=["e0999"])


class ErrorBody(BaseModel):
    error: str = Field(examples=["unknown entity 'e9999'"])
    entity_id: str | None = Field(None, examples=["e9999"])


ERROR_RESPONSES = {
    404: {"model": ErrorBody, "description": "Unknown entity."},
    422: {"description": "Malformed entity id."},
    503: {"model": ErrorBody, "description": "Store loading or unavailable; see Retry-After."},
}
