"""Slow clients against a real gateway process (issue 16, item 5): connections that send a
classify body one byte a second hold no admission slot, so the other clients are served
(not shed with 429); the slow ones are answered 408 after the body timeout, or cut."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest

from tests.integration.test_gateway_service import gateway_with_fakes

SLOW_CLIENTS = 120
CAP = 64  # max_in_flight: fewer slots than slow clients
RUN_S = 7.0
BODY = b'{"entity_id": "e0001"}'


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with gateway_with_fakes(tmp_path_factory.mktemp("slow-logs"), classifiers=("a",),
                            GATEWAY_ADMISSION__MAX_IN_FLIGHT=str(CAP)) as running:
        yield running


async def trickle(port: int, until: float, outcomes: Counter) -> None:
    """One slow client: headers at once, then the body a byte a second; again when cut."""
    head = (b"POST /v1/classify HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(BODY))
    while time.monotonic() < until:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head)
            for i in range(len(BODY)):
                writer.write(BODY[i:i + 1])
                await writer.drain()
                try:
                    line = await asyncio.wait_for(reader.readline(), 1.0)
                except TimeoutError:
                    continue
                outcomes[int(line.split()[1]) if line else "cut"] += 1
                break
            else:
                outcomes["completed"] += 1
        except (ConnectionError, OSError):
            outcomes["cut"] += 1
        finally:
            writer.close()


async def hammer(url: str, until: float, codes: Counter) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while time.monotonic() < until:
            r = await client.post("/v1/classify", json={"entity_id": "e0002"})
            codes[r.status_code] += 1


def test_slow_bodies_hold_no_slot_and_are_cut_after_the_body_timeout(stack):
    gateway, _ = stack
    shed = 'gateway_shed_requests_total{reason="max_in_flight"}'

    def shed_count() -> float:
        for line in httpx.get(gateway.url + "/metrics").text.splitlines():
            if line.startswith(shed):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = shed_count()

    async def run():
        until = time.monotonic() + RUN_S
        slow, normal = Counter(), Counter()
        tasks = [asyncio.create_task(trickle(gateway.port, until, slow))
                 for _ in range(SLOW_CLIENTS)]
        await asyncio.sleep(1.0)  # every slow client is connected and trickling
        await asyncio.gather(*(hammer(gateway.url, until, normal) for _ in range(4)))
        await asyncio.gather(*tasks)
        return slow, normal

    slow, normal = asyncio.run(run())
    print(f"\nnormal clients: {dict(normal)}; slow clients: {dict(slow)}")
    served = normal[200] / sum(normal.values())
    assert sum(normal.values()) >= 20
    assert served == 1.0, normal  # every normal request answered by the model, none shed
    assert set(slow) <= {408, "cut"}, slow  # the body timeout (2 s) answers them
    assert slow[408] >= SLOW_CLIENTS  # each was answered at least once
    assert shed_count() == before
    assert gateway.proc.poll() is None
