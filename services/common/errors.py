"""JSON error bodies: ``{"error": ...}`` for our own errors and for invalid input (422).

Every service installs the one 422 handler here (``install_error_handlers``): whatever the
client sent (NaN, 1e400, a lone surrogate, 10 MB of text), the answer is strict ASCII JSON
that echoes at most ``MAX_ECHO_CHARS`` of each bad value and ``MAX_ERRORS`` errors.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from gameday.text import clean_json

MAX_ECHO_CHARS = 80
MAX_ERRORS = 10


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
    text = value if isinstance(value, str) else repr(value)
    if len(text) > MAX_ECHO_CHARS:
        text = text[:MAX_ECHO_CHARS - 3] + "..."
    return ascii(text)[1:-1] if not text.isascii() else text


def _brief(error: dict) -> dict:
    """One pydantic error, every value shortened (``input``, ``loc`` parts, ``ctx``)."""
    out = {"type": error.get("type"), "msg": _short(error.get("msg", "invalid")),
           "loc": [x if isinstance(x, int) else _short(x) for x in error.get("loc", ())]}
    if "input" in error:
        out["input"] = _short(repr(error["input"]))
    if error.get("ctx"):
        out["ctx"] = {_short(k): v if isinstance(v, int | bool) else _short(str(v))
                      for k, v in error["ctx"].items()}
    return out


def describe_validation_error(errors: list[dict]) -> str:
    parts = []
    for e in errors[:MAX_ERRORS]:
        where = ".".join(str(_short(x) if isinstance(x, str) else x)
                         for x in e.get("loc", ())) or "request"
        parts.append(f"{where}: {_short(e.get('msg', 'invalid'))}, "
                     f"got {_short(repr(e.get('input')))}")
    if len(errors) > MAX_ERRORS:
        parts.append(f"and {len(errors) - MAX_ERRORS} more")
    return "invalid request: " + "; ".join(parts)


def validation_response(exc: RequestValidationError) -> Response:
    """422 with the first errors, each echoing a short ASCII prefix of the bad value."""
    errors = exc.errors()
    body = {"error": describe_validation_error(errors),
            "detail": [_brief(e) for e in errors[:MAX_ERRORS]]}
    return Response(json.dumps(clean_json(body), allow_nan=False), status_code=422,
                    media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return validation_response(exc)
