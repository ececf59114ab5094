"""JSON error bodies: ``{"error": ...}`` for our own errors and for invalid input (422)."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

MAX_ECHO_CHARS = 80


class UnreadableBody(BaseModel):
    detail: str = Field(examples=["There was an error parsing the body"])


# FastAPI answers 400 itself when a JSON body is not text (not UTF-8): every route that
# takes a body declares it, so the OpenAPI document lists every status a client can get.
UNREADABLE_BODY = {400: {"model": UnreadableBody,
                         "description": "The body is not JSON text (not UTF-8, for example)."}}


def error_response(status: int, message: str, retry_after_s: int | None = None,
                   **extra) -> JSONResponse:
    """``{"error": message, ...}``; with ``retry_after_s``, also a Retry-After header."""
    body, headers = {"error": message, **extra}, None
    if retry_after_s is not None:
        body["retry_after_s"] = retry_after_s
        headers = {"Retry-After": str(retry_after_s)}
    return JSONResponse(body, status_code=status, headers=headers)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= MAX_ECHO_CHARS else text[:MAX_ECHO_CHARS - 3] + "..."


def describe_validation_error(errors: list[dict]) -> str:
    parts = []
    for e in errors:
        where = ".".join(str(x) for x in e.get("loc", ())) or "request"
        parts.append(f"{where}: {e.get('msg', 'invalid')}, got {_short(e.get('input'))}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [{**e, "input": _short(e["input"])} if "input" in e else e
                  for e in exc.errors()]
        body = {"error": describe_validation_error(exc.errors()), "detail": errors}
        # ASCII-escaped JSON: whatever the client sent (lone surrogates too) is echoed safely.
        return Response(json.dumps(jsonable_encoder(body)), status_code=422,
                        media_type="application/json")
