"""The admin router for faults: list, add, delete one, clear, and the type catalogue."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Response

from gameday.errors import ValidationError
from gameday.faults.catalog import describe
from gameday.faults.model import Fault, FaultSpec
from gameday.faults.store import FaultStore


def build_admin_router(store: FaultStore, require_token) -> APIRouter:
    router = APIRouter(prefix="/admin/faults", tags=["admin"],
                       dependencies=[Depends(require_token)])

    @router.get("", summary="List active faults")
    def list_faults() -> dict:
        return {"faults": [f.model_dump() for f in store.list()]}

    @router.get("/types", summary="Fault types this service accepts, with their parameters")
    def fault_types() -> dict:
        return {"types": describe(store.types)}

    @router.post("", status_code=201, summary="Inject a fault", response_model=Fault)
    def add_fault(spec: FaultSpec) -> Fault:
        try:
            return store.add(spec)
        except ValidationError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None

    @router.delete("/{fault_id}", status_code=204, summary="Remove one fault")
    def delete_fault(fault_id: str) -> Response:
        if not store.remove(fault_id):
            raise HTTPException(status_code=404, detail=f"no active fault with id {fault_id!r}")
        return Response(status_code=204)

    @router.delete("", summary="Remove every fault")
    def clear_faults() -> dict:
        return {"cleared": store.clear()}

    return router
