"""Admin API of the gateway (bearer token): the resilience levers and the upstream pools.

- ``GET /admin/policy``; ``PATCH /admin/policy`` applies a partial update to the current
  policy; ``PUT /admin/policy`` applies it to the policy set at start (``{}`` resets).
- ``GET /admin/upstreams``: circuit, retry budget, throttle and replicas of each upstream.
- ``PUT /admin/upstreams/{name}`` ``{"urls": [...]}``: set the replica list (add a replica).
- ``POST /admin/upstreams/{name}/{replica}/eject`` and ``/uneject``: by index, URL or
  host:port. ``PUT /admin/upstreams/{name}/circuit`` ``{"state": "closed"|"open"}``.
Bad values answer 422 with a message naming the field and the value.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Body, Depends, HTTPException, Request

from gameday.errors import ValidationError
from gameday.faults.admin import INVALID, UNAUTHORIZED, UNREADABLE_BODY, AdminError
from gameday_services.gateway.calls import Upstream
from gameday_services.gateway.policy import validate_policy_update
from gameday_services.gateway.schemas import CircuitBody, UrlsBody
from gameday_services.gateway.state import Gateway

POLICY_EXAMPLE = {"retry": {"max_attempts": 2}, "admission": {"max_in_flight": 64}}
WITH_BODY = {**UNREADABLE_BODY, **INVALID}
NOT_FOUND = {404: {"model": AdminError, "description": "Unknown upstream or replica."}}


def validate_urls(name: str, urls: list[str]) -> list[str]:
    clean = []
    for i, url in enumerate(urls):
        try:
            parsed = httpx.URL(url.strip())
        except (httpx.InvalidURL, TypeError):
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValidationError(f"upstream {name!r}: field 'urls.{i}': "
                                  f"must be an http(s) URL, got {url!r}")
        clean.append(url.strip().rstrip("/"))
    if len(set(clean)) != len(clean):
        raise ValidationError(f"upstream {name!r}: field 'urls': duplicate URLs, got {urls!r}")
    return clean


def build_admin_router(require_token) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_token)],
                       responses=UNAUTHORIZED)

    def gateway(request: Request) -> Gateway:
        return request.app.state.gateway

    def upstream(gw: Gateway, name: str) -> Upstream:
        found = gw.upstreams.get(name)
        if found is None:
            raise HTTPException(404, detail=f"unknown upstream {name!r}; "
                                            f"known: {', '.join(gw.upstreams)}")
        return found

    def update_policy(gw: Gateway, base, patch: Any) -> dict:
        try:
            policy = validate_policy_update(base, patch)
        except ValidationError as err:
            raise HTTPException(422, detail=str(err)) from None
        gw.set_policy(policy)
        return policy.model_dump()

    @router.get("/policy", summary="The resilience levers in force")
    async def get_policy(request: Request) -> dict:
        return gateway(request).policy.model_dump()

    @router.patch("/policy", responses=WITH_BODY,
                  summary="Change some levers (partial update of the current policy)")
    async def patch_policy(request: Request, patch: Any = Body(examples=[POLICY_EXAMPLE])) -> dict:
        gw = gateway(request)
        return update_policy(gw, gw.policy, patch)

    @router.put("/policy", responses=WITH_BODY,
                summary="Set the levers: the start policy with these changes")
    async def put_policy(request: Request, patch: Any = Body(examples=[POLICY_EXAMPLE])) -> dict:
        gw = gateway(request)
        return update_policy(gw, gw.start_policy, patch)

    @router.get("/upstreams", summary="Circuit, retry budget and replicas of each upstream")
    async def list_upstreams(request: Request) -> dict:
        gw = gateway(request)
        return {"upstreams": {name: up.snapshot(gw.policy) for name, up in gw.upstreams.items()}}

    @router.put("/upstreams/{name}", responses={**WITH_BODY, **NOT_FOUND},
                summary="Set the replica list of an upstream")
    async def set_replicas(name: str, body: UrlsBody, request: Request) -> dict:
        gw = gateway(request)
        up = upstream(gw, name)
        try:
            urls = validate_urls(name, body.urls)
        except ValidationError as err:
            raise HTTPException(422, detail=str(err)) from None
        gw.set_urls(name, urls)
        return up.snapshot(gw.policy)

    @router.put("/upstreams/{name}/circuit", responses={**WITH_BODY, **NOT_FOUND},
                summary="Close or open a circuit by hand")
    async def set_circuit(name: str, body: CircuitBody, request: Request) -> dict:
        gw = gateway(request)
        up = upstream(gw, name)
        up.breaker.force(body.state)
        return up.breaker.snapshot(gw.policy.breaker)

    def find_replica(up: Upstream, key: str):
        replica = up.pool.find(key)
        if replica is None:
            raise HTTPException(404, detail=f"upstream {up.name!r} has no replica {key!r}")
        return replica

    @router.post("/upstreams/{name}/{replica:path}/eject",
                 responses={**NOT_FOUND, 409: {"model": AdminError,
                                               "description": "The last replica in the pool."}},
                 summary="Eject a replica by hand (index, URL or host:port)")
    async def eject(name: str, replica: str, request: Request) -> dict:
        gw = gateway(request)
        up = upstream(gw, name)
        found = find_replica(up, replica)
        changed = False
        if not (found.ejected and found.manual):
            changed = up.pool.eject(found, None)
            if not changed:
                raise HTTPException(409, detail=f"cannot eject {found.url}: at least one "
                                                f"replica of {name!r} must stay in the pool")
        return {"changed": changed, "replica": found.snapshot(up.pool.replicas.index(found),
                                                               up.pool.clock())}

    @router.post("/upstreams/{name}/{replica:path}/uneject", responses=NOT_FOUND,
                 summary="Re-admit a replica")
    async def uneject(name: str, replica: str, request: Request) -> dict:
        gw = gateway(request)
        up = upstream(gw, name)
        found = find_replica(up, replica)
        changed = up.pool.uneject(found)
        return {"changed": changed, "replica": found.snapshot(up.pool.replicas.index(found),
                                                               up.pool.clock())}

    return router
