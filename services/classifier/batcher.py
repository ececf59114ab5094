"""Dynamic batching, as Triton's dynamic batcher and Ray Serve's ``@serve.batch`` do it.

Requests wait in a bounded queue. The batcher takes the oldest, then keeps adding queued
requests until the batch holds ``max_batch_size`` rows or ``max_queue_delay`` has passed
since the oldest request arrived, and runs it. One batch runs at a time (one model instance
on one device), so under load the queue grows and batches fill up. A full queue refuses new
requests at once (the caller answers 503 with Retry-After) rather than letting latency grow
without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("services.classifier")


class QueueFull(Exception):
    """The request queue is at max_queue_size."""


@dataclass
class Pending:
    """One request waiting for its batch: its rows, optional true labels, and its answer."""

    rows: np.ndarray
    labels: list[int | None]
    future: asyncio.Future
    enqueued_at: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return len(self.rows)


RunBatch = Callable[[list[Pending]], Awaitable[None]]


class Batcher:
    def __init__(self, run_batch: RunBatch, max_batch_size: int, max_queue_delay_s: float,
                 max_queue_size: int) -> None:
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_queue_delay_s = max_queue_delay_s
        self.max_queue_size = max_queue_size
        self._queue: deque[Pending] = deque()
        self._arrived = asyncio.Event()

    # -- producers ----------------------------------------------------------------------
    def submit(self, rows: np.ndarray, labels: list[int | None]) -> asyncio.Future:
        """Queue a request; its future resolves when its batch has run. Raises QueueFull."""
        if len(self._queue) >= self.max_queue_size:
            raise QueueFull(f"queue full ({self.max_queue_size} requests waiting)")
        item = Pending(rows, labels, asyncio.get_running_loop().create_future())
        self._queue.append(item)
        self._arrived.set()
        return item.future

    def depth(self) -> int:
        return len(self._queue)

    def queued_rows(self) -> int:
        return sum(item.size for item in list(self._queue))

    # -- the batcher --------------------------------------------------------------------
    async def _wait_for_request(self, timeout: float | None) -> bool:
        """Wait until the queue holds something; False when ``timeout`` passed first."""
        while not self._queue:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                return False
        return True

    async def next_batch(self) -> list[Pending]:
        """Wait for a request, then collect a batch by size or by delay, whichever first."""
        await self._wait_for_request(None)
        first = self._queue.popleft()
        batch, rows = [first], first.size
        deadline = first.enqueued_at + self.max_queue_delay_s
        while rows < self.max_batch_size:
            if not self._queue:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not await self._wait_for_request(remaining):
                    break
            if rows + self._queue[0].size > self.max_batch_size:
                break  # the next request opens the next batch
            item = self._queue.popleft()
            batch.append(item)
            rows += item.size
        return [item for item in batch if not item.future.done()]

    async def run(self) -> None:
        while True:
            batch = await self.next_batch()
            if not batch:
                continue
            try:
                await self.run_batch(batch)
            except Exception as err:  # never leave a caller waiting, never stop batching
                log.exception("batch failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(err)

    def fail_pending(self, err: Exception) -> None:
        """Answer every queued request with ``err`` (used at shutdown)."""
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(err)
