"""A continuous-batching scheduler in the manner of vLLM: KV-cache slots, a bounded waiting
queue, decode steps, and preemption by recomputation.

One background task runs steps. Each step first schedules: if the cache has fewer slots than
running requests (``kv_cache_pressure``), the most recently admitted ones are preempted and
put back at the front of the waiting queue; then waiting requests are admitted into free
slots. It then sleeps for the step's compute (one decode for every running request, plus the
prefill of those just admitted or resumed) and emits one token per running request. Requests
stream their tokens from their own queue, so a slow reader never holds the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gameday.errors import GamedayError
from gameday_services.llm.metrics import LlmMetrics
from gameday_services.llm.model import EOS, NgramModel, render, tokenize

log = logging.getLogger("services.llm")

WAITING, RUNNING, FINISHED, ABORTED = "waiting", "running", "finished", "aborted"


class Overloaded(GamedayError):
    """No slot and no room in the waiting queue."""

    def __init__(self, running: int, waiting: int, max_waiting: int) -> None:
        super().__init__(f"server overloaded: {running} running, {waiting} waiting "
                         f"(max_waiting {max_waiting})")


@dataclass(frozen=True)
class EngineConfig:
    kv_slots: int = 8
    max_waiting: int = 32
    token_ms: float = 10.0
    batch_slowdown: float = 0.05
    prefill_ms: float = 2.0
    prefill_ms_per_token: float = 0.5


@dataclass(eq=False)
class Sequence:
    """One generation request as the engine sees it."""

    prompt: str
    max_tokens: int
    temperature: float = 1.0
    seed: int | None = None
    ignore_eos: bool = False
    id: str = field(default_factory=lambda: "gen-" + uuid.uuid4().hex[:12])
    arrival: float = field(default_factory=time.perf_counter)
    prompt_tokens: list[str] = field(init=False)
    generated: list[str] = field(default_factory=list)
    text: str = ""
    state: str = WAITING
    finish_reason: str | None = None
    first_scheduled: float | None = None
    last_token_at: float | None = None
    needs_prefill: bool = True
    preemptions: int = 0
    events: asyncio.Queue = field(default_factory=asyncio.Queue)

    def __post_init__(self) -> None:
        self.prompt_tokens = tokenize(self.prompt)
        self.rng = random.Random(self.seed)

    @property
    def done(self) -> bool:
        return self.state in (FINISHED, ABORTED)

    def usage(self) -> dict:
        n_prompt, n_gen = len(self.prompt_tokens), len(self.generated)
        return {"prompt_tokens": n_prompt, "completion_tokens": n_gen,
                "total_tokens": n_prompt + n_gen}


class Engine:
    def __init__(self, config: EngineConfig, metrics: LlmMetrics,
                 lost_slots: Callable[[], int] = lambda: 0) -> None:
        self.config = config
        self.metrics = metrics
        self.lost_slots = lost_slots
        self.model: NgramModel | None = None
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._update_gauges()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._wake = asyncio.Event()  # bound to the running loop
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="llm-engine")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for seq in [*self.running, *self.waiting]:
            self.abort(seq)
            seq.events.put_nowait({"done": True, "id": seq.id, "finish_reason": "abort",
                                   "error": "server shutting down", "usage": seq.usage()})

    # -- requests -----------------------------------------------------------------------
    def capacity(self) -> int:
        return max(0, self.config.kv_slots - self.lost_slots())

    def submit(self, seq: Sequence) -> Sequence:
        """Queue ``seq`` for a slot, or raise Overloaded when the waiting queue is full."""
        capacity = self.capacity()
        if len(self.running) + len(self.waiting) >= capacity + self.config.max_waiting:
            raise Overloaded(len(self.running), len(self.waiting), self.config.max_waiting)
        self.waiting.append(seq)
        self._update_gauges()
        self._wake.set()
        return seq

    def abort(self, seq: Sequence) -> None:
        """Drop ``seq`` wherever it is (its client went away): its slot is free at once."""
        if seq.done:
            return
        if seq in self.running:
            self.running.remove(seq)
        with contextlib.suppress(ValueError):
            self.waiting.remove(seq)
        seq.state = ABORTED
        self._update_gauges()
        self._wake.set()
        log.info("generation aborted", extra={"seq_id": seq.id,
                                              "completion_tokens": len(seq.generated)})

    # -- the loop -----------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            try:
                self.schedule()
                if not self.running:
                    self._wake.clear()
                    # With requests waiting but no slot, look again soon: slots come back
                    # when the pressure ends, with no request to wake us.
                    timeout = 0.05 if self.waiting else None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
                    continue
                await asyncio.sleep(self.step_cost_s())
                self.decode_step()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad step must not stop every future request
                log.exception("engine step failed")
                await asyncio.sleep(0.1)

    def schedule(self) -> None:
        """Preempt down to the slots there are, then admit waiting requests into free ones."""
        capacity = self.capacity()
        while len(self.running) > capacity:
            victim = self.running.pop()  # the most recently admitted
            victim.state, victim.needs_prefill = WAITING, True
            victim.preemptions += 1
            self.waiting.appendleft(victim)
            self.metrics.preemptions.inc()
            log.warning("request preempted", extra={"seq_id": victim.id,
                                                    "completion_tokens": len(victim.generated)})
        now = time.perf_counter()
        while len(self.running) < capacity and self.waiting:
            seq = self.waiting.popleft()
            if seq.first_scheduled is None:
                seq.first_scheduled = now
                self.metrics.queue_time.observe(now - seq.arrival)
                self.metrics.prompt_tokens.inc(len(seq.prompt_tokens))
            seq.state = RUNNING
            self.running.append(seq)
        self._update_gauges()

    def step_cost_s(self) -> float:
        c = self.config
        decode = c.token_ms * (1 + c.batch_slowdown * max(0, len(self.running) - 1))
        prefill = sum(c.prefill_ms + c.prefill_ms_per_token
                      * (len(s.prompt_tokens) + len(s.generated))
                      for s in self.running if s.needs_prefill)
        return (decode + prefill) / 1000.0

    def decode_step(self) -> None:
        """One token for every running request; finished ones leave their slot."""
        now = time.perf_counter()
        for seq in list(self.running):
            seq.needs_prefill = False
            context = seq.prompt_tokens + seq.generated
            allow_eos = not seq.ignore_eos and bool(seq.generated)
            try:
                token = self.model.sample(context, seq.rng, seq.temperature, allow_eos=allow_eos)
            except Exception as err:  # fail this request, never the whole batch
                log.exception("sampling failed", extra={"seq_id": seq.id})
                self._fail(seq, f"generation failed: {type(err).__name__}")
                continue
            if token == EOS:
                self._finish(seq, "stop", now)
                continue
            index = len(seq.generated)
            previous = seq.text[-1:] if seq.text else seq.prompt[-1:]
            piece = render(token, previous)
            seq.generated.append(token)
            seq.text += piece
            self.metrics.generation_tokens.inc()
            if index == 0:
                self.metrics.ttft.observe(now - seq.arrival)
            else:
                self.metrics.itl.observe(now - seq.last_token_at)
            seq.last_token_at = now
            seq.events.put_nowait({"token": piece, "index": index})
            if len(seq.generated) >= seq.max_tokens:
                self._finish(seq, "length", now)
        self._update_gauges()

    def _finish(self, seq: Sequence, reason: str, now: float) -> None:
        self.running.remove(seq)
        seq.state, seq.finish_reason = FINISHED, reason
        self.metrics.e2e.observe(now - seq.arrival)
        self.metrics.request_success.labels(reason).inc()
        seq.events.put_nowait({"done": True, "id": seq.id, "finish_reason": reason,
                               "usage": seq.usage()})

    def _fail(self, seq: Sequence, message: str) -> None:
        self.running.remove(seq)
        seq.state, seq.finish_reason = FINISHED, "error"
        seq.events.put_nowait({"done": True, "id": seq.id, "finish_reason": "error",
                               "error": message, "usage": seq.usage()})

    def _update_gauges(self) -> None:
        slots = self.config.kv_slots
        used = min(slots, len(self.running) + self.lost_slots())
        self.metrics.running.set(len(self.running))
        self.metrics.waiting.set(len(self.waiting))
        self.metrics.kv_cache_usage.set(used / slots)
