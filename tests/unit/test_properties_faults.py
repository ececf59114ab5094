"""Properties of the fault TTL logic (hypothesis), on a fake clock.

- A fault is active from the moment it is added until created + TTL, and never after: in
  the store's list, in the middleware's decisions, after a reload from the fault file (the
  injector died; the service restarted) and for process faults (leaks freed, a crash due
  after the TTL never happens).
- A TTL over the cap (or not above zero) is refused with an error naming the field and the
  value, by the model, the admin API and the CLI (exit 2).
- Clearing removes every fault, removing one removes exactly that one, files included.
The example tests (test_faults_store, test_faults_middleware) use real sleeps on a few
values; these run any TTL and any moment without waiting.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError
from typer.testing import CliRunner

from gameday.cli.main import app as cli_app
from gameday.faults import effects, install_faults, model, store
from gameday.faults.catalog import types_for
from gameday.faults.middleware import FaultMiddleware
from gameday.faults.model import MAX_TTL_S, FaultSpec
from gameday.faults.store import FaultStore

T0 = 1_800_000_000.0
TOKEN = "prop-token"

ttls = st.floats(min_value=0.001, max_value=MAX_TTL_S)
over_cap = st.one_of(st.floats(min_value=MAX_TTL_S, max_value=1e12,
                               exclude_min=True, allow_nan=False),
                     st.integers(min_value=int(MAX_TTL_S) + 1, max_value=10**9))


class Clock:
    """Stands in for the ``time`` module of the fault code: ``time()`` is whatever we say."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def clear_of_the_edge(ttl: float, elapsed: float) -> None:
    """Skip moments within a microsecond before expiry: Unix times near 1.8e9 are floats
    with ~0.2 us steps, so "just before" cannot be told from "at" there. At or after the
    TTL is exact (rounding is monotone): expired."""
    assume(not ttl - 1e-6 <= elapsed < ttl)


@contextmanager
def frozen(clock: Clock):
    with mock.patch.object(model, "time", clock), mock.patch.object(store, "time", clock), \
            mock.patch.object(effects, "time", clock):
        yield clock


def make_store(path: Path | None = None, service: str = "classifier") -> FaultStore:
    return FaultStore(types_for(service), path)


# -- never active past the TTL ---------------------------------------------------------------
@given(ttls, st.floats(min_value=0, max_value=2 * MAX_TTL_S))
def test_a_fault_is_active_until_its_ttl_and_never_after(ttl, elapsed):
    clear_of_the_edge(ttl, elapsed)
    with frozen(Clock()) as clock:
        s = make_store()
        fault = s.add(FaultSpec(type="latency", ttl_s=ttl))
        assert fault.expires_at == T0 + ttl
        clock.now = T0 + elapsed
        active = elapsed < ttl
        assert (s.list() == [fault]) == active
        assert (s.first("latency", "/v1/predict") is not None) == active
        assert 0.0 <= fault.remaining_s() <= ttl + 1e-6
        assert math.isclose(fault.remaining_s(), max(0.0, ttl - elapsed), abs_tol=1e-6)
        pruned = s.prune()
        assert [f.id for f in pruned] == ([] if active else [fault.id])
        assert s.list() == ([fault] if active else [])


@given(st.lists(ttls, min_size=1, max_size=8), st.floats(min_value=0, max_value=MAX_TTL_S))
def test_at_any_moment_exactly_the_unexpired_faults_are_listed(ttl_list, elapsed):
    with frozen(Clock()) as clock:
        s = make_store()
        added = []
        for i, ttl in enumerate(ttl_list):
            clock.now = T0 + i  # added one second apart
            added.append(s.add(FaultSpec(type="error", ttl_s=ttl)))
        clock.now = T0 + elapsed
        for i, ttl in enumerate(ttl_list):
            clear_of_the_edge(ttl, elapsed - i)
        want = [f.id for i, f in enumerate(added) if elapsed - i < f.ttl_s]
        assert [f.id for f in s.list()] == want


async def _status(app, path: str) -> int:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@settings(max_examples=50)
@given(ttls, st.floats(min_value=0, max_value=2 * MAX_TTL_S),
       st.sampled_from([500, 502, 503, 429]))
def test_the_middleware_applies_a_fault_only_within_its_ttl(ttl, elapsed, status):
    clear_of_the_edge(ttl, elapsed)
    with frozen(Clock()) as clock:
        s = make_store()
        s.add(FaultSpec(type="error", params={"status": status}, ttl_s=ttl))
        clock.now = T0 + elapsed
        got = asyncio.run(_status(FaultMiddleware(_ok, store=s), "/v1/predict"))
        assert got == (status if elapsed < ttl else 200)


@settings(max_examples=50)
@given(st.lists(ttls, min_size=1, max_size=6), st.floats(min_value=0, max_value=MAX_TTL_S))
def test_after_the_injector_dies_a_reload_keeps_only_unexpired_faults(ttl_list, elapsed):
    for ttl in ttl_list:
        clear_of_the_edge(ttl, elapsed)
    with tempfile.TemporaryDirectory() as folder, frozen(Clock()) as clock:
        path = Path(folder) / "faults.json"
        first = make_store(path)
        added = [first.add(FaultSpec(type="crash", ttl_s=ttl)) for ttl in ttl_list]
        del first  # the process that held them is gone; only the file is left
        clock.now = T0 + elapsed
        again = make_store(path)
        assert [f.id for f in again.list()] == [f.id for f in added if elapsed < f.ttl_s]
        assert {f.id for f in again._faults.values()} <= {f.id for f in added}


@settings(max_examples=50)
@given(st.floats(min_value=0.5, max_value=60), st.floats(min_value=0, max_value=120))
def test_process_faults_stop_at_their_ttl(ttl, elapsed):
    clear_of_the_edge(ttl, elapsed)
    with frozen(Clock()) as clock, mock.patch.object(effects.os, "_exit") as exit_:
        s = make_store()
        # A leak of at most 2 MB, and a crash due only after the fault has expired.
        s.add(FaultSpec(type="memory_leak", params={"mb_per_s": 4, "cap_mb": 2}, ttl_s=ttl))
        s.add(FaultSpec(type="crash", params={"delay_s": ttl}, ttl_s=ttl))
        fx = effects.ProcessEffects(s)
        fx.reconcile()
        clock.now = T0 + elapsed
        fx.reconcile()
        if elapsed >= ttl:
            assert fx.leaked_mb() == 0 and fx.leaks == {} and fx.crash_at == {}
        else:
            assert fx.leaked_mb() <= 2
        clock.now = T0 + ttl  # the crash would be due now: the fault has just expired
        fx.reconcile()
        assert fx.leaked_mb() == 0
        exit_.assert_not_called()


# -- the cap -----------------------------------------------------------------------------
@given(over_cap)
def test_a_ttl_over_the_cap_is_refused_by_the_model(ttl):
    with pytest.raises(PydanticValidationError) as err:
        FaultSpec(type="latency", ttl_s=ttl)
    [problem] = err.value.errors()
    assert problem["loc"] == ("ttl_s",) and problem["input"] == ttl
    assert "3600" in problem["msg"]


@given(st.one_of(st.floats(max_value=0.0, allow_nan=False), st.just(math.nan),
                 st.integers(max_value=0)))
def test_a_ttl_not_above_zero_is_refused(ttl):
    with pytest.raises(PydanticValidationError):
        FaultSpec(type="latency", ttl_s=ttl)


def _admin_client() -> TestClient:
    api = FastAPI()
    install_faults(api, service="classifier", token=TOKEN)
    return TestClient(api)


ADMIN = _admin_client()


@settings(max_examples=40)
@given(over_cap)
def test_the_admin_api_refuses_a_ttl_over_the_cap_naming_field_and_value(ttl):
    resp = ADMIN.post("/admin/faults", json={"type": "latency", "ttl_s": ttl},
                      headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 422
    [problem] = resp.json()["detail"]
    assert problem["loc"] == ["body", "ttl_s"] and problem["input"] == ttl
    assert "less than or equal to 3600" in problem["msg"]
    assert ADMIN.get("/admin/faults", headers={"Authorization": f"Bearer {TOKEN}"}
                     ).json() == {"faults": []}


@settings(max_examples=20)
@given(st.integers(min_value=int(MAX_TTL_S) + 1, max_value=10**7),
       st.sampled_from(["{}s", "{}"]))
def test_the_cli_refuses_a_ttl_over_the_cap_with_exit_2(seconds, spelling):
    ttl = spelling.format(seconds)
    result = CliRunner().invoke(cli_app, ["faults", "add", "classifier", "latency",
                                          "--ttl", ttl])
    assert result.exit_code == 2, result.output
    assert f"--ttl: at most 1h, got {ttl!r}" in result.stderr


# -- clear and remove --------------------------------------------------------------------
@settings(max_examples=50)
@given(st.lists(ttls, min_size=0, max_size=8), st.data())
def test_clear_removes_every_fault_and_remove_exactly_one(ttl_list, data):
    with tempfile.TemporaryDirectory() as folder, frozen(Clock()):
        path = Path(folder) / "faults.json"
        s = make_store(path)
        added = [s.add(FaultSpec(type="latency", ttl_s=ttl)) for ttl in ttl_list]
        if added:
            gone = data.draw(st.sampled_from(added))
            assert s.remove(gone.id) is True and s.remove(gone.id) is False
            assert [f.id for f in s.list()] == [f.id for f in added if f is not gone]
        assert s.clear() == max(0, len(added) - 1)
        assert s.list() == [] and s.clear() == 0
        if path.exists():
            assert json.loads(path.read_text()) == {"faults": []}
        assert make_store(path).list() == []
