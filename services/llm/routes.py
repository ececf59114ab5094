"""HTTP routes of the llm service: generate (streaming or not), model card, health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from gameday_services.common.errors import error_response
from gameday_services.common.health import build_health_router, not_ready_response
from gameday_services.llm.model import MODEL_NAME
from gameday_services.llm.scheduler import Engine, Overloaded, Sequence
from gameday_services.llm.schemas import (
    GENERATE_RESPONSES,
    NOT_READY,
    GenerateRequest,
    Generation,
    ModelCard,
)
from gameday_services.llm.streaming import collect, stream_events

health = build_health_router("the model is loaded")
api = APIRouter(prefix="/v1", tags=["generation"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@api.post("/generate", response_model=Generation, responses=GENERATE_RESPONSES,
          summary="Generate text after a prompt, streamed token by token")
async def generate(body: GenerateRequest, request: Request):
    if (refusal := not_ready_response(request, "model")) is not None:
        return refusal
    engine: Engine = request.app.state.engine
    seq = Sequence(prompt=body.prompt, max_tokens=body.max_tokens,
                   temperature=body.temperature, seed=body.seed, ignore_eos=body.ignore_eos)
    try:
        engine.submit(seq)
    except Overloaded as err:
        wait = request.app.state.settings.retry_after_s
        return error_response(503, str(err), retry_after_s=wait)
    if body.stream:
        return StreamingResponse(stream_events(seq, engine), media_type="text/event-stream",
                                 headers=SSE_HEADERS)
    result = await collect(seq, engine, request)
    if result is None:  # the client has gone; nobody reads this
        return JSONResponse({"error": "client disconnected"}, status_code=499)
    if "error" in result:  # a bug of ours, not the client's: logged with its traceback
        return error_response(500, result["error"], id=result["id"])
    return result


@api.get("/models", response_model=ModelCard, responses=NOT_READY,
         summary="The model being served")
def model_card(request: Request):
    if (refusal := not_ready_response(request, "model")) is not None:
        return refusal
    engine: Engine = request.app.state.engine
    model = engine.model
    return ModelCard(model=MODEL_NAME, version=model.version, order=3,
                     vocab_size=model.vocab_size, training_tokens=model.training_tokens,
                     kv_slots=engine.config.kv_slots, max_waiting=engine.config.max_waiting)
