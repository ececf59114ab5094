"""Request and response bodies of the llm API, with OpenAPI examples."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gameday_services.common.errors import UNREADABLE_BODY
from gameday_services.common.fields import Text

MAX_PROMPT_CHARS = 8000


class GenerateRequest(BaseModel):
    prompt: Text = Field(max_length=MAX_PROMPT_CHARS, examples=["In the beginning"])
    max_tokens: int = Field(64, ge=1, le=512, examples=[32],
                            description="Most tokens to generate.")
    temperature: float = Field(1.0, ge=0.0, le=2.0, examples=[0.8],
                               description="0 is greedy; higher is more varied.")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, examples=[42],
                             description="Same seed, prompt and settings give the same text.")
    stream: bool = Field(True, description="Server-sent events, one per token, if true.")
    ignore_eos: bool = Field(False, description="Keep generating past the end of a text.")

    model_config = {"allow_inf_nan": False, "json_schema_extra": {"examples": [
        {"prompt": "Four score and", "max_tokens": 24, "temperature": 0.8, "seed": 7,
         "stream": True},
    ]}}


class Usage(BaseModel):
    prompt_tokens: int = Field(examples=[3])
    completion_tokens: int = Field(examples=[24])
    total_tokens: int = Field(examples=[27])


class Generation(BaseModel):
    id: str = Field(examples=["gen-3f2a9c1b7d4e"])
    model: str = Field(examples=["trigram-wordlm"])
    text: str = Field(examples=[" seven years ago our fathers brought forth on this continent"])
    finish_reason: str = Field(examples=["length"], description="'stop' or 'length'.")
    usage: Usage


class ModelCard(BaseModel):
    model: str = Field(examples=["trigram-wordlm"])
    version: str = Field(examples=["1d13ed90fc78"], description="Hash of the training corpus.")
    order: int = Field(examples=[3])
    vocab_size: int = Field(examples=[494])
    training_tokens: int = Field(examples=[1818])
    kv_slots: int = Field(examples=[8])
    max_waiting: int = Field(examples=[32])


class ErrorBody(BaseModel):
    error: str = Field(examples=["server overloaded: 8 running, 32 waiting (max_waiting 32)"])
    retry_after_s: int | None = Field(None, examples=[1])


NOT_READY = {503: {"model": ErrorBody, "description": "The model is loading; see Retry-After."}}

SSE_EXAMPLE = (
    'data: {"token": " seven", "index": 0}\n\n'
    'data: {"token": " years", "index": 1}\n\n'
    'data: {"done": true, "id": "gen-3f2a9c1b7d4e", "finish_reason": "length", '
    '"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}\n\n'
    "data: [DONE]\n\n"
)

GENERATE_RESPONSES = {
    200: {
        "description": "With stream true, server-sent events: one per token, then a final "
                       "event with done, finish_reason and usage, then [DONE]. With stream "
                       "false, the whole generation as JSON.",
        "content": {"text/event-stream": {"example": SSE_EXAMPLE}},
    },
    **UNREADABLE_BODY,
    422: {"description": "Invalid request body."},
    503: {"model": ErrorBody,
          "description": "Overloaded (no slot, waiting queue full) or loading; see Retry-After."},
}
