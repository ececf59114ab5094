"""Fault injection over real sockets: docs/faults.md's own-app example run with uvicorn."""

import os
import subprocess
import time

import httpx
import pytest

from tests.procs import TEST_TOKEN, auth, start_own_app


@pytest.fixture()
def own_app():
    proc, url = start_own_app(stderr=subprocess.PIPE)
    yield url, proc
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    assert TEST_TOKEN.encode() not in err, "the admin token leaked into the logs"


def inject(url, **spec):
    resp = httpx.post(url + "/admin/faults", json=spec, headers=auth(), timeout=5)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_without_token_the_admin_api_answers_401(own_app):
    url, _ = own_app
    assert httpx.get(url + "/admin/faults").status_code == 401
    assert httpx.get(url + "/admin/faults", headers=auth("wrong")).status_code == 401


def test_abort_closes_the_connection_without_a_response(own_app):
    url, _ = own_app
    inject(url, type="abort", route="/v1/items/*", ttl_s=5)
    # Dropped before any status line: the layer that applies faults saw the server's transport.
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        httpx.get(url + "/v1/items/1", timeout=5)
    assert httpx.get(url + "/healthz").status_code == 200


def test_hang_outlasts_the_client_timeout(own_app):
    url, _ = own_app
    inject(url, type="hang", params={"max_s": 3}, ttl_s=10)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url + "/v1/items/1", timeout=0.5)


def test_error_with_probability_half(own_app):
    url, _ = own_app
    inject(url, type="error", params={"status": 502}, probability=0.5, ttl_s=10)
    codes = [httpx.get(url + "/v1/items/1").status_code for _ in range(200)]
    assert set(codes) == {200, 502}
    assert 60 <= codes.count(502) <= 140


def test_crash_exits_the_process(own_app):
    url, proc = own_app
    inject(url, type="crash", params={"delay_s": 0.1, "exit_code": 3}, ttl_s=10)
    assert proc.wait(timeout=5) == 3


def test_crash_on_request(own_app):
    url, proc = own_app
    inject(url, type="crash", params={"on_request": True}, ttl_s=10)
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/v1/items/1", timeout=5)
    assert proc.wait(timeout=5) == 1


def test_cpu_burn_slows_requests_and_stops_at_ttl(own_app):
    url, _ = own_app

    def cpu_seconds():
        # utime+stime of the server from /proc, in clock ticks
        fields = open(f"/proc/{own_app[1].pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    inject(url, type="cpu_burn", params={"threads": 1}, ttl_s=2.5)
    before = cpu_seconds()
    time.sleep(2.0)
    burning = cpu_seconds() - before
    # a third of a core at least, even when the tests share the two cores with a drill
    assert burning > 0.6, f"cpu burn used only {burning:.2f}s of CPU in 2s"
    time.sleep(1.5)
    before = cpu_seconds()
    time.sleep(1.0)
    assert cpu_seconds() - before < 0.2
