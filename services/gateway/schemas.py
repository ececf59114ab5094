"""Request and response bodies of the public API, with examples for the OpenAPI page."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gameday_services.common.fields import Text

ENTITY_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    entity_id: str = Field(pattern=ENTITY_ID_PATTERN, examples=["e0001"])
    label: int | None = Field(None, ge=0, le=1_000_000,
                              description="The known class: marks a labelled canary.",
                              examples=[None])


class ClassifyResponse(BaseModel):
    entity_id: str = Field(examples=["e0001"])
    class_: int = Field(alias="class", examples=[2])
    label: str = Field(examples=["fraud"])
    probabilities: list[float] | None = Field(
        description="Class probabilities; null for a most-frequent-class fallback.",
        examples=[[0.1, 0.2, 0.7]])
    model_version: str | None = Field(examples=["v1"])
    degraded: bool = Field(examples=[False])
    degraded_reasons: list[str] = Field(
        description="Why the answer is degraded: default_features, stale_features, "
                    "cached_answer, most_frequent_class.", examples=[[]])
    replica: str | None = Field(description="The classifier replica that answered.",
                                examples=["http://127.0.0.1:8082"])

    model_config = ConfigDict(populate_by_name=True)


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt: Text = Field(min_length=1, max_length=20_000, examples=["Once upon a time"])
    max_tokens: int | None = Field(None, ge=1, le=8192, examples=[32])
    temperature: float | None = Field(None, ge=0, le=5, examples=[0.8])
    seed: int | None = Field(None, examples=[42])
    stream: bool = Field(True, description="Always streamed (text/event-stream).")


class ErrorBody(BaseModel):
    detail: str = Field(examples=["classifier unavailable: circuit open"])
    reason: str | None = Field(None, examples=["circuit_open"])
    upstream: str | None = Field(None, examples=["classifier"])


class UrlsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[Text] = Field(min_length=1, max_length=32,
                            examples=[["http://127.0.0.1:8082", "http://127.0.0.1:8083"]])


class CircuitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str = Field(pattern="^(closed|open)$", examples=["closed"])
