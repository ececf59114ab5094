"""Limits every service shares, passed to FastAPI by each ``app.py``.

``MAX_BODY_BYTES``: FastAPI's own request body limit (``FastAPI(max_body_size=...)``,
Starlette's RequestBodyLimitMiddleware): a body that declares a larger Content-Length is
answered 413 before any of it is read, and a chunked body as soon as it passes the limit,
so a service never holds more than this of one request's body. The largest legitimate
bodies (a batch of feature vectors, a 20,000-character prompt) are well under 100 KB.
"""

from __future__ import annotations

MAX_BODY_BYTES = 1024 * 1024

__all__ = ["MAX_BODY_BYTES"]
