"""Error answers of the public API: JSON bodies, with Retry-After when retrying can help."""

from __future__ import annotations

import math

from fastapi.responses import JSONResponse

from gameday_services.gateway.calls import UpstreamFailure
from gameday_services.gateway.policy import AdmissionPolicy


def failure_status(failure: UpstreamFailure) -> int:
    """504 after a timeout, 502 for a bad upstream answer, else 503 (unavailable)."""
    if failure.kind == "timeout":
        return 504
    if failure.kind == "error" and failure.status not in (None, 429, 503):
        return 502
    return 503


def unavailable_response(failure: UpstreamFailure, policy: AdmissionPolicy) -> JSONResponse:
    status = failure_status(failure)
    headers = {}
    if status == 503:
        seconds = failure.retry_after if failure.retry_after is not None else policy.retry_after_s
        headers["Retry-After"] = str(max(0, math.ceil(seconds)))
    return JSONResponse(
        status_code=status, headers=headers,
        content={"detail": f"{failure.upstream} unavailable: {failure.describe()}",
                 "reason": failure.kind, "upstream": failure.upstream})
