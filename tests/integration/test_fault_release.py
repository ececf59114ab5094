"""A fault that holds requests (hang, latency) lets them go as soon as it is cleared,
removed or expires, not at its original TTL: a real feature store process on loopback."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.procs import ServiceProcess, auth

ROUTE = "/v1/features/e0001"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    env = {"FEATURES_LOAD_TIME_S": "0", "FEATURES_ENTITIES": "20",
           "FEATURES_DB_PATH": str(folder / "features.sqlite3")}
    with ServiceProcess("features", env=env, log_dir=folder) as proc:
        yield proc


def inject(url: str, **spec) -> str:
    resp = httpx.post(url + "/admin/faults", json=spec, headers=auth(), timeout=5)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def held_requests(url: str, n: int) -> tuple[list[threading.Thread], list]:
    """``n`` requests in threads; each result is (status, monotonic time answered)."""
    results: list = []

    def one():
        try:
            resp = httpx.get(url + ROUTE, timeout=60)
            results.append((resp.status_code, time.monotonic()))
        except httpx.HTTPError as err:
            results.append((repr(err), time.monotonic()))

    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, results


def wait_released(threads, results, since: float) -> float:
    for t in threads:
        t.join(30)
    assert len(results) == len(threads), "a held request never came back"
    assert {r[0] for r in results} == {200}, results
    return max(r[1] for r in results) - since


@pytest.mark.parametrize("how", ["clear", "remove"])
def test_clearing_a_hang_releases_held_requests_at_once(service, how):
    url = service.url
    fid = inject(url, type="hang", route=ROUTE, ttl_s=600)
    threads, results = held_requests(url, 5)
    time.sleep(1.0)
    assert results == [], "the hang did not hold the requests"
    t0 = time.monotonic()
    if how == "clear":
        assert httpx.delete(url + "/admin/faults", headers=auth()).json() == {"cleared": 1}
    else:
        assert httpx.delete(f"{url}/admin/faults/{fid}", headers=auth()).status_code == 204
    took = wait_released(threads, results, t0)
    print(f"\nhang ({how}): 5 held requests answered {took:.3f} s after the fault went")
    assert took < 1.0


def test_clearing_a_long_latency_fault_releases_held_requests(service):
    url = service.url
    inject(url, type="latency", route=ROUTE, params={"delay_ms": 100_000}, ttl_s=600)
    threads, results = held_requests(url, 3)
    time.sleep(1.0)
    assert results == []
    t0 = time.monotonic()
    httpx.delete(url + "/admin/faults", headers=auth())
    assert wait_released(threads, results, t0) < 1.0


def test_an_expiring_hang_releases_at_its_ttl(service):
    url = service.url
    t0 = time.monotonic()
    inject(url, type="hang", route=ROUTE, ttl_s=2)
    threads, results = held_requests(url, 2)
    took = wait_released(threads, results, t0)
    assert 1.5 < took < 3.5, took
