"""A small load generator for the overload test, run as its own process:

    python tests/e2e/openloop.py closed URL SECONDS CLIENTS      # capacity: as fast as answered
    python tests/e2e/openloop.py open URL SECONDS RATE           # requests due at a fixed rate

POSTs /v1/classify with entity ids e0000..e0999 and prints one JSON line: requests sent,
answers by status, answers 200 within 300 ms (the gateway latency SLO threshold), errors,
the rate actually sent, and p99 of the 200s.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

THRESHOLD_S = 0.3


async def _one(session, url: str, i: int, due: float, out: dict) -> None:
    import aiohttp

    try:
        async with session.post(url, json={"entity_id": f"e{i % 1000:04d}"}) as resp:
            await resp.read()
            status = resp.status
    except (TimeoutError, aiohttp.ClientError, OSError):
        out["errors"] += 1
        return
    took = time.monotonic() - due
    out["status"][str(status)] = out["status"].get(str(status), 0) + 1
    if status == 200:
        out["lat"].append(took)
        out["good"] += took <= THRESHOLD_S


async def main(mode: str, base: str, seconds: float, n: float) -> dict:
    import aiohttp

    url = base.rstrip("/") + "/v1/classify"
    out = {"sent": 0, "status": {}, "good": 0, "errors": 0, "lat": []}
    timeout = aiohttp.ClientTimeout(total=5)
    conn = aiohttp.TCPConnector(limit=4000)
    async with aiohttp.ClientSession(timeout=timeout, connector=conn) as session:
        t0 = time.monotonic()
        end = t0 + seconds
        if mode == "closed":
            async def client(k: int) -> None:
                i = k
                while time.monotonic() < end:
                    out["sent"] += 1
                    await _one(session, url, i, time.monotonic(), out)
                    i += int(n)
            await asyncio.gather(*(client(k) for k in range(int(n))))
        else:
            tasks = set()
            interval = 1.0 / n
            i = 0
            while True:
                due = t0 + i * interval
                if due >= end:
                    break
                now = time.monotonic()
                if due > now:
                    await asyncio.sleep(due - now)
                task = asyncio.create_task(_one(session, url, i, due, out))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                out["sent"] += 1
                i += 1
            if tasks:
                await asyncio.wait(tasks, timeout=6)
        took = time.monotonic() - t0
    lat = sorted(out.pop("lat"))
    out["p99_s"] = lat[int(0.99 * (len(lat) - 1))] if lat else None
    out["sent_per_s"] = out["sent"] / seconds
    out["good_per_s"] = out["good"] / seconds
    out["wall_s"] = took
    return out


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    mode, base, seconds, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    print(json.dumps(asyncio.run(main(mode, base, seconds, n))))
