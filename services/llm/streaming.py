"""Delivering a sequence's tokens: as server-sent events, or collected into one answer.

Whichever way, a client that goes away frees its KV-cache slot: the event stream is
cancelled on disconnect (its ``finally`` aborts the sequence), and the collecting path
checks the connection while it waits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import Request

from gameday_services.llm.model import MODEL_NAME
from gameday_services.llm.scheduler import Engine, Sequence

DISCONNECT_CHECK_S = 0.25


def sse(data: dict | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(", ", ": "))
    return f"data: {payload}\n\n"


async def stream_events(seq: Sequence, engine: Engine) -> AsyncIterator[str]:
    """``data: {"token", "index"}`` per token, ``data: {"done": true, ...}``, ``data: [DONE]``."""
    try:
        while True:
            event = await seq.events.get()
            yield sse(event)
            if event.get("done"):
                yield sse("[DONE]")
                return
    finally:
        engine.abort(seq)  # no-op once finished


async def collect(seq: Sequence, engine: Engine, request: Request) -> dict | None:
    """The whole generation (with an ``error`` key if it failed), or None if the client
    disconnected first."""
    getter: asyncio.Future | None = None
    try:
        while True:
            if getter is None:
                getter = asyncio.ensure_future(seq.events.get())
            done, _ = await asyncio.wait({getter}, timeout=DISCONNECT_CHECK_S)
            if not done:
                if await request.is_disconnected():
                    return None
                continue
            event, getter = getter.result(), None
            if event.get("done"):
                result = {"id": seq.id, "model": MODEL_NAME, "text": seq.text,
                          "finish_reason": event["finish_reason"], "usage": event["usage"]}
                if "error" in event:
                    result["error"] = event["error"]
                return result
    finally:
        if getter is not None:
            getter.cancel()
        engine.abort(seq)
