"""Stand-in upstreams for gateway tests: a feature store, classifier replicas and an llm.

In process (``httpx.ASGITransport``) or as a process on loopback::

    python -m tests.integration.fake_upstreams --kind classifier --port 9002 --name b

Every fake records what it received and can be told to misbehave:
``POST /_control {"status": 500, "delay_s": 0.2, "retry_after": "2", "hold": true}``,
``POST /_release`` (lets a held llm stream go on), ``GET /_seen``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

ENTITIES = {
    "e0001": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
    "e0002": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
    "e0003": [0.5] * 8,
    "e0004": [2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0],
    "e0005": [0.0, 0.1, 0.0, 0.1, 0.0, 0.1, 0.0, 0.1],
}
FEATURE_NAMES = [f"f{i}" for i in range(8)]
LABELS = ["low", "medium", "high"]


@dataclass
class Control:
    status: int = 200
    delay_s: float = 0.0
    retry_after: str | None = None
    hold: bool = False
    token_delay_s: float = 0.0
    stale: bool = False
    request_ids: list[str] = field(default_factory=list)
    bodies: list = field(default_factory=list)
    calls: int = 0
    cancelled: int = 0
    completed: int = 0
    release: asyncio.Event | None = None

    def update(self, changes: dict) -> None:
        for key in ("status", "delay_s", "retry_after", "hold", "token_delay_s", "stale"):
            if key in changes:
                setattr(self, key, changes[key])

    def seen(self) -> dict:
        return {"request_ids": self.request_ids, "calls": self.calls, "bodies": self.bodies,
                "cancelled": self.cancelled, "completed": self.completed}


def classify_features(features: list[float]) -> int:
    return int(abs(sum(features)) * 10) % len(LABELS)


def _base_app(kind: str, name: str) -> FastAPI:
    app = FastAPI(title=f"fake {kind} {name}")
    control = Control()
    app.state.control = control
    app.state.name = name

    @app.get("/readyz")
    def readyz() -> dict:
        return {"ready": True}

    @app.post("/_control")
    async def set_control(request: Request) -> dict:
        control.update(await request.json())
        return {"ok": True}

    @app.post("/_release")
    async def release() -> dict:
        if control.release is not None:
            control.release.set()
        return {"ok": True}

    @app.get("/_seen")
    def seen() -> dict:
        return control.seen()

    return app


async def _gate(control: Control, request: Request, body=None) -> JSONResponse | None:
    """Record the call; answer with the configured failure, if any."""
    control.calls += 1
    control.request_ids.append(request.headers.get("x-request-id", ""))
    if body is not None:
        control.bodies.append(body)
    if control.delay_s:
        await asyncio.sleep(control.delay_s)
    if control.status != 200:
        headers = {"Retry-After": control.retry_after} if control.retry_after else {}
        return JSONResponse(status_code=control.status, headers=headers,
                            content={"detail": "fake failure"})
    return None


def features_app(name: str = "0") -> FastAPI:
    app = _base_app("features", name)
    control: Control = app.state.control

    @app.get("/v1/features/{entity_id}")
    async def features(entity_id: str, request: Request):
        failed = await _gate(control, request)
        if failed is not None:
            return failed
        if entity_id not in ENTITIES:
            return JSONResponse(status_code=404,
                                content={"detail": f"unknown entity {entity_id!r}"})
        return {"entity_id": entity_id, "features": ENTITIES[entity_id],
                "feature_names": FEATURE_NAMES, "stale": control.stale}

    return app


def classifier_app(name: str = "0") -> FastAPI:
    app = _base_app("classifier", name)
    control: Control = app.state.control

    @app.post("/v1/predict")
    async def predict(request: Request):
        body = await request.json()
        failed = await _gate(control, request, body)
        if failed is not None:
            return failed
        label = body.get("label")
        if label is not None and label not in range(len(LABELS)):
            return JSONResponse(status_code=422, content={"detail": f"label {label} out of range"})
        cls = classify_features(body["features"])
        probabilities = [0.1] * len(LABELS)
        probabilities[cls] = 1.0 - 0.1 * (len(LABELS) - 1)
        return {"predictions": [{"class": cls, "label": LABELS[cls],
                                 "probabilities": probabilities}],
                "model": "classifier", "version": "v1", "replica": name}

    return app


def llm_app(name: str = "0") -> FastAPI:
    app = _base_app("llm", name)
    control: Control = app.state.control

    @app.post("/v1/generate")
    async def generate(request: Request):
        body = await request.json()
        failed = await _gate(control, request, body)
        if failed is not None:
            return failed
        control.release = asyncio.Event()
        tokens = int(body.get("max_tokens") or 5)

        async def events():
            done = False
            try:
                for i in range(tokens):
                    yield f"data: {json.dumps({'index': i, 'token': f'w{i} '})}\n\n"
                    if i == 0 and control.hold:
                        await control.release.wait()
                    elif control.token_delay_s:
                        await asyncio.sleep(control.token_delay_s)
                yield f"data: {json.dumps({'done': True, 'tokens': tokens})}\n\n"
                done = True
            finally:
                if done:
                    control.completed += 1
                else:
                    control.cancelled += 1

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


BUILDERS = {"features": features_app, "classifier": classifier_app, "llm": llm_app}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=sorted(BUILDERS), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="0")
    args = parser.parse_args()
    uvicorn.run(BUILDERS[args.kind](args.name), host="127.0.0.1", port=args.port,
                log_level="warning")


if __name__ == "__main__":
    main()


# -- in-process wiring for unit tests ---------------------------------------------------
FEATURES_URL = "http://features.test"
CLASSIFIER_A = "http://classifier-a.test"
CLASSIFIER_B = "http://classifier-b.test"
LLM_URL = "http://llm.test"


def in_process_fakes() -> dict[str, FastAPI]:
    """One fake per upstream URL: a feature store, two classifier replicas, an llm."""
    return {FEATURES_URL: features_app(), CLASSIFIER_A: classifier_app("a"),
            CLASSIFIER_B: classifier_app("b"), LLM_URL: llm_app()}


def gateway_app(fakes: dict[str, FastAPI], registry, **settings):
    """The real gateway app with its upstream URLs routed to in-process fakes."""
    import httpx

    from gameday_services.gateway.app import create_app
    from gameday_services.gateway.settings import Settings

    base = {"features_url": FEATURES_URL, "classifier_urls": [CLASSIFIER_A, CLASSIFIER_B],
            "llm_url": LLM_URL, "retry": {"backoff_base_s": 0.001, "backoff_max_s": 0.002}}
    base.update(settings)
    transports = {url: httpx.ASGITransport(app=app) for url, app in fakes.items()}
    return create_app(Settings(**base), registry, transports=transports)
