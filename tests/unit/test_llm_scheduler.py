"""The vLLM-like engine on its own: slots, the waiting queue, preemption, aborts."""

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from gameday_services.llm.metrics import LlmMetrics
from gameday_services.llm.model import train_from_corpus
from gameday_services.llm.scheduler import Engine, EngineConfig, Overloaded, Sequence

MODEL = train_from_corpus()


@pytest.fixture()
def anyio_backend():
    return "asyncio"


class Pressure:
    lost = 0

    def __call__(self):
        return self.lost


def make_engine(pressure=None, **config):
    registry = CollectorRegistry()
    engine = Engine(EngineConfig(**{"token_ms": 2.0, "prefill_ms": 0.0,
                                    "prefill_ms_per_token": 0.0, **config}),
                    LlmMetrics(registry), pressure or (lambda: 0))
    engine.model = MODEL
    return engine, registry


async def drain(seq: Sequence) -> list[dict]:
    events = []
    while True:
        event = await asyncio.wait_for(seq.events.get(), 10)
        events.append(event)
        if event.get("done"):
            return events


async def until(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def long_seq(seed=1, n=400):
    return Sequence(prompt="In the beginning", max_tokens=n, seed=seed, ignore_eos=True)


@pytest.mark.anyio
async def test_tokens_then_done_with_usage():
    engine, registry = make_engine()
    engine.start()
    try:
        seq = engine.submit(Sequence(prompt="Four score and", max_tokens=5, seed=3))
        events = await drain(seq)
    finally:
        await engine.stop()
    assert [e["index"] for e in events[:-1]] == list(range(len(events) - 1))
    assert events[-1]["done"] is True
    assert events[-1]["usage"]["prompt_tokens"] == 3
    assert events[-1]["usage"]["completion_tokens"] == len(events) - 1
    assert "".join(e["token"] for e in events[:-1]) == seq.text
    get = registry.get_sample_value
    assert get("llm_generation_tokens_total") == len(events) - 1
    assert get("llm_prompt_tokens_total") == 3
    assert get("llm_time_to_first_token_seconds_count") == 1


@pytest.mark.anyio
async def test_slots_then_waiting_queue_then_overloaded():
    engine, registry = make_engine(kv_slots=1, max_waiting=1)
    engine.start()
    try:
        first, second = engine.submit(long_seq(1)), engine.submit(long_seq(2))
        await until(lambda: engine.running == [first])
        assert list(engine.waiting) == [second]
        assert registry.get_sample_value("llm_requests_running") == 1
        assert registry.get_sample_value("llm_requests_waiting") == 1
        assert registry.get_sample_value("llm_kv_cache_usage_ratio") == 1.0
        with pytest.raises(Overloaded, match="1 running, 1 waiting"):
            engine.submit(long_seq(3))
    finally:
        await engine.stop()


@pytest.mark.anyio
async def test_abort_frees_the_slot_for_the_next_request():
    engine, registry = make_engine(kv_slots=1, max_waiting=4)
    engine.start()
    try:
        first, second = engine.submit(long_seq(1)), engine.submit(long_seq(2))
        await until(lambda: len(first.generated) > 2)
        engine.abort(first)
        assert first not in engine.running
        await until(lambda: engine.running == [second])
        engine.abort(second)
        waiting = engine.submit(long_seq(3))
        engine.abort(waiting)
        await until(lambda: not engine.running and not engine.waiting)
        assert registry.get_sample_value("llm_requests_running") == 0
        assert registry.get_sample_value("llm_requests_waiting") == 0
    finally:
        await engine.stop()


@pytest.mark.anyio
async def test_pressure_preempts_the_newest_and_it_resumes_with_the_same_text():
    pressure = Pressure()
    engine, registry = make_engine(pressure, kv_slots=2, max_waiting=4)
    engine.start()
    try:
        reference = engine.submit(long_seq(seed=11, n=300))
        expected = [e for e in await drain(reference) if "token" in e]
        old, new = engine.submit(long_seq(seed=10, n=300)), engine.submit(long_seq(seed=11, n=300))
        await until(lambda: len(engine.running) == 2 and len(new.generated) > 3)
        pressure.lost = 1
        await until(lambda: registry.get_sample_value("llm_preemptions_total") >= 1)
        assert engine.running == [old] and list(engine.waiting) == [new]
        assert registry.get_sample_value("llm_kv_cache_usage_ratio") == 1.0
        pressure.lost = 0
        events = await drain(new)
        await drain(old)
    finally:
        await engine.stop()
    assert new.preemptions >= 1
    assert [e for e in events if "token" in e] == expected
    assert new.text == reference.text


@pytest.mark.anyio
async def test_all_slots_lost_holds_requests_until_the_pressure_ends():
    pressure = Pressure()
    pressure.lost = 2
    engine, _ = make_engine(pressure, kv_slots=2, max_waiting=1)
    engine.start()
    try:
        seq = engine.submit(Sequence(prompt="We hold", max_tokens=3, seed=1))
        with pytest.raises(Overloaded):
            engine.submit(Sequence(prompt="We hold", max_tokens=3, seed=2))
        await asyncio.sleep(0.1)
        assert seq.generated == [] and list(engine.waiting) == [seq]
        pressure.lost = 0
        events = await drain(seq)
    finally:
        await engine.stop()
    assert events[-1]["finish_reason"] in ("length", "stop")


class BrokenModel:
    def sample(self, *args, **kwargs):
        raise RuntimeError("boom")


@pytest.mark.anyio
async def test_a_failing_request_ends_with_an_error_event_and_frees_its_slot():
    engine, registry = make_engine(kv_slots=1)
    engine.model = BrokenModel()
    engine.start()
    try:
        events = await drain(engine.submit(Sequence(prompt="x", max_tokens=3)))
    finally:
        await engine.stop()
    assert events == [{"done": True, "id": events[0]["id"], "finish_reason": "error",
                       "error": "generation failed: RuntimeError",
                       "usage": {"prompt_tokens": 1, "completion_tokens": 0,
                                 "total_tokens": 1}}]
    assert engine.running == []
    assert registry.get_sample_value("llm_request_success_total",
                                     {"finished_reason": "length"}) == 0
