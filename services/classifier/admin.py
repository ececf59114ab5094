"""Admin routes for model versions: look, deploy, roll back (bearer token required)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, HTTPException

from gameday.errors import ValidationError
from gameday.faults.admin import INVALID, UNAUTHORIZED, UNREADABLE_BODY, AdminError
from gameday_services.classifier.deployment import Deployment, DeploymentConflict
from gameday_services.classifier.schemas import DeployRequest, DeployResponse, ModelState

log = logging.getLogger("services.classifier")


def build_admin_router(deployment: Deployment, require_token) -> APIRouter:
    router = APIRouter(prefix="/admin/model", tags=["admin"],
                       dependencies=[Depends(require_token)], responses=UNAUTHORIZED)

    @router.get("", summary="Live version and the versions available", response_model=ModelState)
    def model_state() -> dict:
        return deployment.describe()

    @router.post("/deploy", summary="Serve another version", response_model=DeployResponse,
                 responses={**UNREADABLE_BODY, **INVALID,
                            409: {"model": AdminError, "description": "the model is loading"}})
    async def deploy(body: DeployRequest) -> dict:
        try:
            result = deployment.deploy(body.version)
        except ValidationError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None
        except DeploymentConflict as err:
            raise HTTPException(status_code=409, detail=str(err)) from None
        log.warning("model deployed", extra=result)
        return result

    @router.post("/rollback", summary="Serve the version live before the last deploy",
                 response_model=DeployResponse,
                 responses={409: {"model": AdminError,
                                  "description": "nothing to roll back to, or loading"}})
    async def rollback() -> dict:
        try:
            result = deployment.rollback()
        except DeploymentConflict as err:
            raise HTTPException(status_code=409, detail=str(err)) from None
        log.warning("model rolled back", extra=result)
        return result

    return router
