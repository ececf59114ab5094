"""Bearer-token check for every admin endpoint of a service.

The token is compared in constant time and never logged. With no token configured the
admin API refuses everything.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request

TOKEN_ENV = "GAMEDAY_ADMIN_TOKEN"
TOKEN_FILE_ENV = "GAMEDAY_ADMIN_TOKEN_FILE"


def load_token(token: str | None = None) -> str | None:
    """The admin token: given, else from $GAMEDAY_ADMIN_TOKEN_FILE, else $GAMEDAY_ADMIN_TOKEN."""
    if token:
        return token
    path = os.environ.get(TOKEN_FILE_ENV)
    if path:
        text = Path(path).read_text().strip()
        if text:
            return text
    return os.environ.get(TOKEN_ENV) or None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def make_token_check(token: str | None):
    expected = token.encode() if token else None

    def require_admin_token(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        ok = (
            expected is not None
            and scheme.lower() == "bearer"
            and secrets.compare_digest(given.strip().encode(), expected)
        )
        if not ok:
            raise HTTPException(
                status_code=401,
                detail="admin API needs 'Authorization: Bearer <token>' with the run's token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_admin_token
