"""HTTP routes of the feature store: features and labels by entity, health and readiness."""

from __future__ import annotations

import logging
import sqlite3
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gameday_services.common.errors import error_response
from gameday_services.common.health import build_health_router, not_ready_response
from gameday_services.features.lookups import FeatureLookup
from gameday_services.features.schemas import (
    ERROR_RESPONSES,
    EntitiesInfo,
    EntityId,
    EntityLabel,
    FeatureVector,
)
from gameday_services.features.store import FEATURE_NAMES, format_entity_id

log = logging.getLogger("services.features")

health = build_health_router("the store is seeded")
api = APIRouter(prefix="/v1", tags=["features"], responses=ERROR_RESPONSES)


def _unavailable(err: sqlite3.Error, entity_id: str) -> JSONResponse:
    log.error("store query failed", extra={"entity_id": entity_id, "error": str(err)})
    return error_response(503, f"feature store query failed: {err}", retry_after_s=1,
                          entity_id=entity_id)


def _unknown(entity_id: str) -> JSONResponse:
    return error_response(404, f"unknown entity {entity_id!r}", entity_id=entity_id)


@api.get("/features/{entity_id}", response_model=FeatureVector,
         summary="The feature vector of one entity")
async def get_features(entity_id: EntityId, request: Request):
    if (refusal := not_ready_response(request, "feature store")) is not None:
        return refusal
    lookup: FeatureLookup = request.app.state.lookup
    try:
        row, stale = await lookup.features(entity_id, request.url.path)
    except sqlite3.Error as err:
        return _unavailable(err, entity_id)
    if row is None:
        return _unknown(entity_id)
    return FeatureVector(
        entity_id=row.entity_id, features=row.features, feature_names=list(FEATURE_NAMES),
        updated_at=row.updated_at, age_s=round(max(0.0, time.time() - row.updated_at), 3),
        stale=stale,
    )


@api.get("/labels/{entity_id}", response_model=EntityLabel,
         summary="The true class of one entity (for labelled canary requests)")
async def get_label(entity_id: EntityId, request: Request):
    if (refusal := not_ready_response(request, "feature store")) is not None:
        return refusal
    lookup: FeatureLookup = request.app.state.lookup
    try:
        label = await lookup.label(entity_id, request.url.path)
    except sqlite3.Error as err:
        return _unavailable(err, entity_id)
    if label is None:
        return _unknown(entity_id)
    return EntityLabel(entity_id=entity_id, label=label)


@api.get("/entities", response_model=EntitiesInfo, summary="How many entities, first and last id")
def get_entities(request: Request):
    if (refusal := not_ready_response(request, "feature store")) is not None:
        return refusal
    store = request.app.state.lookup.store
    if store.count == 0:
        return EntitiesInfo(count=0, first=None, last=None)
    return EntitiesInfo(count=store.count, first=format_entity_id(0, store.id_width),
                        last=format_entity_id(store.count - 1, store.id_width))
