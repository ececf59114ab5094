"""Limits every service shares: the request body (passed to FastAPI by each ``app.py``) and
the server's (passed to uvicorn by services/common/serve.py).

``MAX_BODY_BYTES``: FastAPI's own request body limit (``FastAPI(max_body_size=...)``,
Starlette's RequestBodyLimitMiddleware): a body that declares a larger Content-Length is
answered 413 before any of it is read, and a chunked body as soon as it passes the limit,
so a service never holds more than this of one request's body. The largest legitimate
bodies (a batch of feature vectors, a 20,000-character prompt) are well under 100 KB.

The server (services/common/connection.py, services/common/serve.py):

- ``MAX_HEAD_BYTES``: request line and headers together; past it, 431 and the connection
  closed. Our clients send a few hundred bytes.
- ``RECEIVE_TIMEOUT_S``: a request's head and body must arrive within this of the
  connection opening (or of the previous request's end); past it, 408 and closed.
- ``KEEP_ALIVE_S``: an idle kept-alive connection is closed after this (uvicorn's default).
- ``MAX_CONCURRENCY``: connections or requests at once past which the server answers 503
  (uvicorn's ``limit_concurrency``): a last resort well above the gateway's admission cap
  (``max_in_flight`` 256), which sheds with 429 long before.
"""

from __future__ import annotations

MAX_BODY_BYTES = 1024 * 1024
MAX_HEAD_BYTES = 16 * 1024
RECEIVE_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
MAX_CONCURRENCY = 1024

__all__ = ["KEEP_ALIVE_S", "MAX_BODY_BYTES", "MAX_CONCURRENCY", "MAX_HEAD_BYTES",
           "RECEIVE_TIMEOUT_S"]
