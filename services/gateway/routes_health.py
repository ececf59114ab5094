"""Liveness and readiness. Ready once a classifier replica is configured: readiness does
not depend on upstreams being up, so a failing upstream never cascades into the gateway
being taken out of rotation."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness",
            responses={503: {"description": "Not ready, with the reason."}})
def readyz(request: Request):
    ready, reason = request.app.state.gateway.readiness()
    if ready:
        return {"ready": True}
    return JSONResponse(status_code=503, content={"ready": False, "reason": reason})
