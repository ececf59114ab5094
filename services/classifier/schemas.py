"""Request and response bodies of the classifier API, with OpenAPI examples."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gameday_services.classifier.dataset import N_CLASSES, N_FEATURES
from gameday_services.common.fields import Text

MAX_ABS = 1e6  # features are standardised-scale numbers; beyond this is garbage, not data
Number = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_ABS, le=MAX_ABS)]
Vector = Annotated[list[Number], Field(min_length=N_FEATURES, max_length=N_FEATURES)]
ClassIndex = Annotated[int, Field(strict=True, ge=0, le=N_CLASSES - 1)]

EXAMPLE = [0.42, -1.3, 0.05, 2.1, -0.7, 0.9, -0.2, 1.4]


class PredictRequest(BaseModel):
    """One vector in ``features`` or a batch in ``instances``. A true ``label`` (or
    ``labels`` for a batch) marks a canary: its answer is counted correct or incorrect."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"features": EXAMPLE},
        {"features": EXAMPLE, "label": 2},
        {"instances": [EXAMPLE, EXAMPLE], "labels": [2, None]},
    ]})

    features: Vector | None = Field(None, description=f"{N_FEATURES} numbers f0..f7")
    instances: Annotated[list[Vector], Field(min_length=1)] | None = Field(
        None, description="a batch of feature vectors (at most max_batch_size)")
    label: ClassIndex | None = Field(None, description="true class of a canary request")
    labels: list[ClassIndex | None] | None = Field(
        None, description="true classes of a batch, null where unknown")

    @model_validator(mode="after")
    def one_form(self) -> PredictRequest:
        if (self.features is None) == (self.instances is None):
            raise ValueError("give either 'features' (one vector) or 'instances' (a batch)")
        if self.features is not None and self.labels is not None:
            raise ValueError("'labels' goes with 'instances'; use 'label' with 'features'")
        if self.instances is not None and self.label is not None:
            raise ValueError("'label' goes with 'features'; use 'labels' with 'instances'")
        if self.labels is not None and len(self.labels) != len(self.instances):
            raise ValueError(f"'labels' has {len(self.labels)} entries for "
                             f"{len(self.instances)} instances")
        return self

    def rows(self) -> list[list[float]]:
        return [self.features] if self.features is not None else self.instances

    def truth(self) -> list[int | None]:
        if self.features is not None:
            return [self.label]
        return self.labels if self.labels is not None else [None] * len(self.instances)


class PredictionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: int = Field(alias="class", examples=[2],
                        description="predicted class index; -1 when the model output NaN")
    label: str = Field(examples=["high"], description="class name; 'invalid' for a NaN output")
    probabilities: list[float] | None = Field(
        examples=[[0.03, 0.12, 0.85]], description="per class; null when the model output NaN")


class PredictResponse(BaseModel):
    predictions: list[PredictionOut]
    model: str = Field("classifier", examples=["classifier"])
    version: str = Field(examples=["v1"])


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Text = Field(examples=["v2"])


class ModelState(BaseModel):
    model: str = Field("classifier", examples=["classifier"])
    version: str | None = Field(examples=["v1"], description="live version")
    available: list[str] = Field(examples=[["v1", "v2"]])
    previous: str | None = Field(examples=[None], description="what rollback would serve")
    ready: bool
    reason: str | None = Field(None, examples=[None])


class DeployResponse(BaseModel):
    model: str = Field("classifier", examples=["classifier"])
    version: str = Field(examples=["v2"])
    previous: str | None = Field(examples=["v1"])


class ErrorBody(BaseModel):
    error: str = Field(examples=["queue full (64 requests waiting)"])
