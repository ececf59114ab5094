"""Fault injection for FastAPI apps: a middleware plus an authenticated admin router.

Two lines add it to any FastAPI app::

    from gameday.faults import install_faults
    install_faults(app, service="myapp")          # token from $GAMEDAY_ADMIN_TOKEN(_FILE)

Every fault has a target route pattern, a probability and a required TTL; expired faults
disappear by themselves.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from gameday.faults.model import Fault, FaultSpec
from gameday.faults.store import FaultStore

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["Fault", "FaultSpec", "FaultStore", "install_faults"]

FAULTS_FILE_ENV = "GAMEDAY_FAULTS_FILE"


def move_routes_last(app: FastAPI, router) -> None:
    """Put the routes ``router`` added to ``app`` after all the others (order kept)."""
    paths = {getattr(r, "path", None) for r in router.routes}

    def added(route) -> bool:
        return getattr(route, "original_router", None) is router or (
            getattr(route, "path", None) in paths and route.path.startswith("/admin"))

    routes = app.router.routes
    routes[:] = [r for r in routes if not added(r)] + [r for r in routes if added(r)]


def install_faults(
    app: FastAPI,
    service: str,
    token: str | None = None,
    faults_file: str | None = None,
    extra_types: tuple[str, ...] = (),
) -> FaultStore:
    """Mount fault injection on ``app`` and return its store (also ``app.state.faults``).

    Returns the store so the service can read its specific faults (``store.first("bad_model")``).
    The admin dependency is kept on ``app.state.require_admin_token`` for the service's own
    admin endpoints.
    """
    # FastAPI only here: the fault model and the client (gameday.faults.client) are used by
    # the command line, which must not load it
    from gameday.faults.admin import build_admin_router
    from gameday.faults.auth import load_token, make_token_check
    from gameday.faults.catalog import types_for
    from gameday.faults.effects import ProcessEffects
    from gameday.faults.middleware import FaultMiddleware

    store = FaultStore(types_for(service, extra_types),
                       faults_file or os.environ.get(FAULTS_FILE_ENV))
    require_token = make_token_check(load_token(token))
    effects = ProcessEffects(store)

    admin = build_admin_router(store, require_token)
    app.include_router(admin)

    build = app.build_middleware_stack

    def build_with_faults():
        # With telemetry (installed before or after), its layer applies the faults inside
        # its metrics, so injected failures are visible symptoms; alone, wrap the app.
        stack = build()
        if getattr(app.state, "http_metrics", None) is not None:
            return stack
        return FaultMiddleware(stack, store)

    app.build_middleware_stack = build_with_faults

    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        # Every route is in by now: match the fault admin routes after the service's own,
        # or each /v1 request is first tried against them (bench/README.md: about 11% CPU
        # per request on a trivial route).
        move_routes_last(app, admin)
        effects.start()
        try:
            async with inner_lifespan(a) as state:
                yield state
        finally:
            await effects.stop()

    app.router.lifespan_context = lifespan
    app.state.faults = store
    app.state.fault_effects = effects
    app.state.require_admin_token = require_token
    return store
