"""A small, bounded burst of real traffic through the gateway (for the demo and smoke checks).

Load tests proper use Locust in its own process (loadtests/); this is a few hundred requests
on loopback with httpx, to show the stack working end to end.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from dataclasses import dataclass, field


@dataclass
class TrafficResult:
    classify_ok: int = 0
    classify_failed: int = 0
    degraded: int = 0
    generate_ok: int = 0
    generate_failed: int = 0
    tokens: int = 0
    ttft_s: list[float] = field(default_factory=list)
    classify_s: list[float] = field(default_factory=list)
    sample_prediction: dict | None = None
    sample_text: str = ""
    elapsed_s: float = 0.0


async def _classify(client, gateway: str, entity: str, result: TrafficResult,
                    labels_url: str | None = None) -> None:
    body = {"entity_id": entity}
    if labels_url:  # a labelled canary: the classifier counts it correct or incorrect
        try:
            body["label"] = (await client.get(f"{labels_url}/v1/labels/{entity}")).json()["label"]
        except Exception:
            pass
    start = time.perf_counter()
    try:
        resp = await client.post(f"{gateway}/v1/classify", json=body)
    except Exception:
        result.classify_failed += 1
        return
    result.classify_s.append(time.perf_counter() - start)
    if resp.status_code == 200:
        result.classify_ok += 1
        body = resp.json()
        result.degraded += bool(body.get("degraded"))
        result.sample_prediction = result.sample_prediction or body
    else:
        result.classify_failed += 1


async def _generate(client, gateway: str, prompt: str, seed: int, result: TrafficResult) -> None:
    start = time.perf_counter()
    first = None
    text = []
    try:
        payload = {"prompt": prompt, "max_tokens": 24, "seed": seed, "stream": True}
        async with client.stream("POST", f"{gateway}/v1/generate", json=payload) as resp:
            if resp.status_code != 200:
                result.generate_failed += 1
                return
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                event = json.loads(data)
                if "token" in event:
                    first = first or time.perf_counter()
                    text.append(event["token"])
                    result.tokens += 1
    except Exception:
        result.generate_failed += 1
        return
    result.generate_ok += 1
    if first is not None:
        result.ttft_s.append(first - start)
    if not result.sample_text:
        result.sample_text = "".join(text)


async def run_traffic(gateway: str, classify: int = 200, generate: int = 6,
                      concurrency: int = 8, entities: int = 1000, seed: int = 7,
                      timeout_s: float = 10.0, labels_url: str | None = None,
                      canary_every: int = 10) -> TrafficResult:
    """Send ``classify`` and ``generate`` requests; every ``canary_every``-th classify is a
    labelled canary when ``labels_url`` (the feature store) is given."""
    import httpx

    rng = random.Random(seed)
    result = TrafficResult()
    sem = asyncio.Semaphore(concurrency)
    prompts = ["In the beginning", "The model said", "Four score and", "We hold these"]

    async def guarded(coro):
        async with sem:
            await coro

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        jobs = [guarded(_classify(client, gateway, f"e{rng.randrange(entities):04d}", result,
                                  labels_url if i % canary_every == 0 else None))
                for i in range(classify)]
        jobs += [guarded(_generate(client, gateway, prompts[i % len(prompts)], i, result))
                 for i in range(generate)]
        rng.shuffle(jobs)
        await asyncio.gather(*jobs)
    result.elapsed_s = time.perf_counter() - start
    return result


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN when there are no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def send_traffic(gateway: str, **kwargs) -> TrafficResult:
    return asyncio.run(run_traffic(gateway, **kwargs))
