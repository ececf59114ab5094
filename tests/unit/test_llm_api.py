"""The llm service over HTTP in process: SSE format, JSON answers, overload, preemption under
the kv_cache_pressure fault, disconnects, metrics."""

import asyncio
import json
import time
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from gameday_services.llm.app import create_app
from gameday_services.llm.settings import Settings

TOKEN = "unit-llm-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = {"load_time_s": 0.0, "token_ms": 2.0, "prefill_ms": 0.0, "prefill_ms_per_token": 0.0}


@pytest.fixture()
def anyio_backend():
    return "asyncio"


@pytest.fixture(autouse=True)
def admin_token(monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("GAMEDAY_FAULTS_FILE", raising=False)


@asynccontextmanager
async def serve(**settings):
    registry = CollectorRegistry()
    app = create_app(Settings(**{**FAST, **settings}), registry)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://llm") as client:
            for _ in range(500):
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.01)
            yield app, client, registry


async def until(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


@contextmanager
def ready_client(**settings):
    app = create_app(Settings(**{**FAST, **settings}), CollectorRegistry())
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "llm never became ready"
            time.sleep(0.01)
        yield client


def sse_events(text: str) -> list:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        data = block[len("data: "):]
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


def long_request(seed, n=300, stream=False):
    return {"prompt": "In the beginning", "max_tokens": n, "seed": seed, "stream": stream,
            "ignore_eos": True}


def test_stream_is_server_sent_events_ending_with_done():
    with ready_client() as client:
        resp = client.post("/v1/generate", json={"prompt": "Four score and", "max_tokens": 8,
                                                 "seed": 5, "temperature": 0.7})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = sse_events(resp.text)
    tokens, done, end = events[:-2], events[-2], events[-1]
    assert end == "[DONE]"
    assert [t["index"] for t in tokens] == list(range(len(tokens)))
    assert all(set(t) == {"token", "index"} for t in tokens)
    assert done["done"] is True and done["finish_reason"] in ("stop", "length")
    assert done["usage"] == {"prompt_tokens": 3, "completion_tokens": len(tokens),
                             "total_tokens": 3 + len(tokens)}
    if done["finish_reason"] == "length":
        assert len(tokens) == 8


def test_same_seed_same_text_streamed_or_not():
    body = {"prompt": "We hold these", "max_tokens": 20, "seed": 42}
    with ready_client() as client:
        streamed = sse_events(client.post("/v1/generate", json=body).text)
        whole = client.post("/v1/generate", json={**body, "stream": False}).json()
        again = client.post("/v1/generate", json={**body, "stream": False}).json()
    assert "".join(e["token"] for e in streamed if isinstance(e, dict) and "token" in e) \
        == whole["text"] == again["text"]
    assert whole["model"] == "trigram-wordlm"
    assert whole["text"].startswith(" truths")
    assert whole["usage"]["completion_tokens"] == len(streamed) - 2


@pytest.mark.parametrize("body", [
    {"prompt": "x", "max_tokens": 0},
    {"prompt": "x", "max_tokens": 513},
    {"prompt": "x", "temperature": -1},
    {"prompt": "x", "seed": -3},
    {"max_tokens": 5},
    {"prompt": "x" * 8001},
    "not json",
])
def test_invalid_requests_are_422_json(body):
    with ready_client() as client:
        if isinstance(body, str):
            resp = client.post("/v1/generate", content=body,
                               headers={"content-type": "application/json"})
        else:
            resp = client.post("/v1/generate", json=body)
    assert resp.status_code == 422
    assert resp.json()["error"].startswith("invalid request: body")


def test_not_ready_while_the_model_loads():
    app = create_app(Settings(**{**FAST, "load_time_s": 30}), CollectorRegistry())
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "loading" in ready.json()["reason"]
        resp = client.post("/v1/generate", json={"prompt": "x"})
        assert resp.status_code == 503 and resp.headers["retry-after"] == "1"


@pytest.mark.anyio
async def test_third_request_with_one_slot_and_one_waiting_place_gets_503():
    async with serve(kv_slots=1, max_waiting=1) as (app, client, registry):
        engine = app.state.engine
        first = asyncio.create_task(client.post("/v1/generate", json=long_request(1, 300)))
        second = asyncio.create_task(client.post("/v1/generate", json=long_request(2, 5)))
        await until(lambda: len(engine.running) == 1 and len(engine.waiting) == 1)
        third = await client.post("/v1/generate", json=long_request(3, 5))
        assert third.status_code == 503
        assert third.headers["retry-after"] == "1"
        assert third.json()["error"] == "server overloaded: 1 running, 1 waiting (max_waiting 1)"
        assert third.json()["retry_after_s"] == 1
        assert (await first).status_code == 200
        assert (await second).status_code == 200
        assert registry.get_sample_value("llm_request_queue_time_seconds_count") == 2
        assert registry.get_sample_value(
            "http_requests_total",
            {"service": "llm", "route": "/v1/generate", "method": "POST", "code": "503"}) == 1


@pytest.mark.anyio
async def test_kv_cache_pressure_preempts_and_counts_preemptions():
    async with serve(kv_slots=2, max_waiting=4) as (app, client, registry):
        engine = app.state.engine
        alone = (await client.post("/v1/generate", json=long_request(22, 300))).json()
        tasks = [asyncio.create_task(client.post("/v1/generate", json=long_request(s, 300)))
                 for s in (21, 22)]
        await until(lambda: len(engine.running) == 2
                    and all(len(s.generated) > 2 for s in engine.running))
        fault = {"type": "kv_cache_pressure", "params": {"slots_lost": 1}, "ttl_s": 0.5}
        assert (await client.post("/admin/faults", json=fault, headers=AUTH)).status_code == 201
        await until(lambda: registry.get_sample_value("llm_preemptions_total") >= 1)
        assert registry.get_sample_value("llm_kv_cache_usage_ratio") == 1.0
        results = [(await t).json() for t in tasks]
    assert all(r["usage"]["completion_tokens"] == 300 for r in results)
    assert results[1]["text"] == alone["text"], "a preempted request resumes where it was"
    assert registry.get_sample_value("llm_request_success_total",
                                     {"finished_reason": "length"}) == 3


@pytest.mark.anyio
async def test_client_disconnect_mid_stream_frees_its_slot():
    async with serve(kv_slots=1, max_waiting=0) as (app, client, registry):
        body = json.dumps(long_request(1, 500, stream=True)).encode()
        got_token, sent_request = asyncio.Event(), []
        chunks = []

        async def receive():
            if not sent_request:
                sent_request.append(True)
                return {"type": "http.request", "body": body, "more_body": False}
            await got_token.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.body" and b'"token"' in message["body"]:
                chunks.append(message["body"])
                got_token.set()

        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.0"},
            "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/v1/generate", "raw_path": b"/v1/generate", "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 40000), "server": ("llm", 80),
            "headers": [(b"host", b"llm"), (b"content-type", b"application/json")],
        }
        await asyncio.wait_for(app(scope, receive, send), 10)
        assert chunks, "the stream started before the client left"
        engine = app.state.engine
        await until(lambda: not engine.running and not engine.waiting)
        assert registry.get_sample_value("llm_requests_running") == 0
        # The one slot is free: the next request is served, not refused.
        resp = await client.post("/v1/generate", json=long_request(2, 3))
        assert resp.status_code == 200


EXPECTED_TYPES = {
    "llm_time_to_first_token_seconds": "histogram",
    "llm_inter_token_latency_seconds": "histogram",
    "llm_e2e_request_latency_seconds": "histogram",
    "llm_request_queue_time_seconds": "histogram",
    "llm_requests_running": "gauge",
    "llm_requests_waiting": "gauge",
    "llm_kv_cache_usage_ratio": "gauge",
    "llm_preemptions_total": "counter",
    "llm_generation_tokens_total": "counter",
    "llm_prompt_tokens_total": "counter",
    "llm_request_success_total": "counter",
}


def test_metrics_are_exposed_with_their_types():
    with ready_client() as client:
        client.post("/v1/generate", json={"prompt": "In the", "max_tokens": 4, "seed": 1})
        text = client.get("/metrics").text
    for name, kind in EXPECTED_TYPES.items():
        assert f"# TYPE {name} {kind}" in text, name
    assert 'model_info{model="trigram-wordlm"' in text
    assert "fault" not in text


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=6,
)
BODIES = st.fixed_dictionaries({}, optional={
    "prompt": st.text(max_size=40) | JSON_VALUES,
    "max_tokens": st.integers(-5, 600) | JSON_VALUES,
    "temperature": st.floats(-1, 3, allow_nan=False) | JSON_VALUES,
    "seed": st.integers(-10, 2**64) | st.none(),
    "stream": st.booleans() | JSON_VALUES,
}) | JSON_VALUES


def test_any_json_body_gets_an_answer_never_a_500():
    with ready_client(token_ms=0.0) as client:

        @settings(max_examples=80, deadline=None)
        @given(body=BODIES)
        def check(body):
            # json.dumps writes Infinity for inf, as some clients do: still a 422, not a 500.
            resp = client.post("/v1/generate", content=json.dumps(body),
                               headers={"content-type": "application/json"})
            assert resp.status_code in (200, 422), (body, resp.text)
            if resp.status_code == 422:
                assert resp.json()["error"].startswith("invalid request")

        check()
