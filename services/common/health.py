"""Liveness and readiness: ``/healthz`` answers while the process lives, ``/readyz`` only
once the service can serve (model loaded, store seeded), with the reason otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gameday_services.common.errors import error_response


@dataclass
class Readiness:
    ready: bool = False
    reason: str = "loading"


def build_health_router(what: str) -> APIRouter:
    """``/healthz`` and ``/readyz``; ``what`` says what readiness waits for, for the docs."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness")
    def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz", summary=f"Readiness: 503 until {what}",
                responses={503: {"description": "Not ready, with the reason."}})
    def readyz(request: Request):
        readiness: Readiness = request.app.state.readiness
        if readiness.ready:
            return {"ready": True}
        return JSONResponse({"ready": False, "reason": readiness.reason}, status_code=503)

    return router


def not_ready_response(request: Request, subject: str) -> JSONResponse | None:
    """A 503 with Retry-After while the service is not ready, else None."""
    readiness: Readiness = request.app.state.readiness
    if readiness.ready:
        return None
    return error_response(503, f"{subject} not ready: {readiness.reason}", retry_after_s=1)
