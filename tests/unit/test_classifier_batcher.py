"""Dynamic batching: batches by size or by delay, a bounded queue, callers always answered."""

import asyncio

import numpy as np
import pytest

from gameday_services.classifier.batcher import Batcher, QueueFull


def rows(n: int = 1) -> np.ndarray:
    return np.zeros((n, 8))


class Recorder:
    """A run_batch that answers each request with the size of the batch it ran in."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, batch):
        self.batches.append([item.size for item in batch])
        for item in batch:
            item.future.set_result(sum(i.size for i in batch))


def test_concurrent_requests_share_a_batch():
    async def main():
        rec = Recorder()
        batcher = Batcher(rec, max_batch_size=8, max_queue_delay_s=0.5, max_queue_size=16)
        futures = [batcher.submit(rows(), [None]) for _ in range(5)]
        task = asyncio.create_task(batcher.run())
        results = await asyncio.gather(*futures)
        task.cancel()
        return rec.batches, results

    batches, results = asyncio.run(main())
    assert batches == [[1, 1, 1, 1, 1]]
    assert results == [5] * 5


def test_a_batch_never_exceeds_max_batch_size_and_keeps_whole_requests():
    async def main():
        rec = Recorder()
        batcher = Batcher(rec, max_batch_size=4, max_queue_delay_s=0.5, max_queue_size=16)
        futures = [batcher.submit(rows(n), [None] * n) for n in (2, 1, 3, 1, 4)]
        task = asyncio.create_task(batcher.run())
        await asyncio.gather(*futures)
        task.cancel()
        return rec.batches

    assert asyncio.run(main()) == [[2, 1], [3, 1], [4]]


def test_a_lone_request_runs_after_the_queue_delay_without_waiting_for_company():
    async def main():
        rec = Recorder()
        batcher = Batcher(rec, max_batch_size=8, max_queue_delay_s=0.01, max_queue_size=4)
        task = asyncio.create_task(batcher.run())
        result = await asyncio.wait_for(batcher.submit(rows(), [None]), timeout=5)
        task.cancel()
        return result

    assert asyncio.run(main()) == 1


def test_a_full_queue_refuses_at_once():
    async def main():
        batcher = Batcher(Recorder(), max_batch_size=8, max_queue_delay_s=0.01, max_queue_size=2)
        batcher.submit(rows(), [None])
        batcher.submit(rows(3), [None] * 3)
        assert batcher.depth() == 2 and batcher.queued_rows() == 4
        with pytest.raises(QueueFull, match="2 requests"):
            batcher.submit(rows(), [None])

    asyncio.run(main())


def test_a_failing_batch_answers_its_callers_and_batching_goes_on():
    async def main():
        calls = []

        async def run_batch(batch):
            calls.append(len(batch))
            if len(calls) == 1:
                raise RuntimeError("boom")
            for item in batch:
                item.future.set_result("ok")

        batcher = Batcher(run_batch, max_batch_size=1, max_queue_delay_s=0, max_queue_size=4)
        first = batcher.submit(rows(), [None])
        second = batcher.submit(rows(), [None])
        task = asyncio.create_task(batcher.run())
        with pytest.raises(RuntimeError, match="boom"):
            await first
        assert await second == "ok"
        task.cancel()

    asyncio.run(main())


def test_requests_whose_caller_left_are_skipped():
    async def main():
        rec = Recorder()
        batcher = Batcher(rec, max_batch_size=8, max_queue_delay_s=0.01, max_queue_size=4)
        gone = batcher.submit(rows(), [None])
        kept = batcher.submit(rows(2), [None, None])
        gone.cancel()
        task = asyncio.create_task(batcher.run())
        result = await kept
        task.cancel()
        return rec.batches, result

    assert asyncio.run(main()) == ([[2]], 2)
