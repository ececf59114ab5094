"""The admin router for faults: list, add, delete one, clear, and the type catalogue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field

from gameday.errors import ValidationError
from gameday.faults.catalog import describe
from gameday.faults.model import Fault, FaultSpec
from gameday.faults.store import FaultStore


class AdminError(BaseModel):
    """Error body of an admin API: a message, or FastAPI's list of validation errors."""

    detail: str | list[dict[str, Any]] = Field(
        examples=["fault: field 'type': unknown fault type 'lag'; this service accepts: ..."])


# Every admin router declares these, so its OpenAPI document lists what it can answer.
UNAUTHORIZED = {401: {"model": AdminError,
                      "description": "No bearer token, or not the run's token."}}
UNREADABLE_BODY = {400: {"model": AdminError,
                         "description": "The body is not JSON text (not UTF-8, for example)."}}
INVALID = {422: {"model": AdminError,
                 "description": "Invalid input; the message names the field and the value."}}


def build_admin_router(store: FaultStore, require_token) -> APIRouter:
    router = APIRouter(prefix="/admin/faults", tags=["admin"],
                       dependencies=[Depends(require_token)], responses=UNAUTHORIZED)

    @router.get("", summary="List active faults")
    def list_faults() -> dict:
        return {"faults": [f.model_dump() for f in store.list()]}

    @router.get("/types", summary="Fault types this service accepts, with their parameters")
    def fault_types() -> dict:
        return {"types": describe(store.types)}

    @router.post("", status_code=201, summary="Inject a fault", response_model=Fault,
                 responses={**UNREADABLE_BODY, **INVALID})
    def add_fault(spec: FaultSpec) -> Fault:
        try:
            return store.add(spec)
        except ValidationError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None

    @router.delete("/{fault_id}", status_code=204, summary="Remove one fault",
                   responses={404: {"model": AdminError, "description": "No such active fault."}})
    def delete_fault(fault_id: str) -> Response:
        if not store.remove(fault_id):
            raise HTTPException(status_code=404, detail=f"no active fault with id {fault_id!r}")
        return Response(status_code=204)

    @router.delete("", summary="Remove every fault")
    def clear_faults() -> dict:
        return {"cleared": store.clear()}

    return router
