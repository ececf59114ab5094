"""Probes of a process: readiness over HTTP."""

from __future__ import annotations

import httpx


def probe_ready(url: str, path: str = "/readyz", timeout: float = 0.5,
                client: httpx.Client | None = None) -> bool:
    """True when ``GET url+path`` answers 200 within the timeout."""
    try:
        if client is not None:
            return client.get(url + path, timeout=timeout).status_code == 200
        return httpx.get(url + path, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def probe_all(urls: list[str], path: str = "/readyz", timeout: float = 0.5) -> list[bool]:
    """Probe several URLs at once (one thread each), in order."""
    from concurrent.futures import ThreadPoolExecutor

    if not urls:
        return []
    with httpx.Client() as client, ThreadPoolExecutor(max_workers=min(16, len(urls))) as pool:
        return list(pool.map(lambda u: probe_ready(u, path, timeout, client), urls))
