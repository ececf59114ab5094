import json
import os
import stat
import time

import pytest
from pydantic import ValidationError as PydanticError

from gameday.errors import ValidationError
from gameday.faults.catalog import types_for
from gameday.faults.model import FaultSpec
from gameday.faults.store import FaultStore
from gameday.runfolder import read_secret, write_secret


def make_store(tmp_path=None, service="classifier"):
    path = tmp_path / "faults.json" if tmp_path else None
    return FaultStore(types_for(service), path)


def test_add_fills_defaults_and_lists():
    store = make_store()
    fault = store.add(FaultSpec(type="latency", params={"delay_ms": 50}, ttl_s=10))
    assert fault.params == {"delay_ms": 50.0, "jitter_ms": 0.0}
    assert [f.id for f in store.list()] == [fault.id]
    assert store.first("latency", "/v1/predict").id == fault.id
    assert store.first("latency", "/healthz") is None


def test_unknown_type_names_value_and_choices():
    store = make_store(service="features")
    with pytest.raises(ValidationError) as err:
        store.add(FaultSpec(type="bad_model", ttl_s=5))
    assert "unknown fault type 'bad_model'" in str(err.value)
    assert "slow_store" in str(err.value)


def test_bad_param_names_field_and_value():
    store = make_store()
    with pytest.raises(ValidationError) as err:
        store.add(FaultSpec(type="error", params={"status": 200}, ttl_s=5))
    assert "field 'status'" in str(err.value) and "got 200" in str(err.value)
    with pytest.raises(ValidationError) as err:
        store.add(FaultSpec(type="latency", params={"delay": 5}, ttl_s=5))
    assert "field 'delay'" in str(err.value)


def test_ttl_is_required_and_capped():
    with pytest.raises(PydanticError):
        FaultSpec(type="latency")
    with pytest.raises(PydanticError):
        FaultSpec(type="latency", ttl_s=3601)
    with pytest.raises(PydanticError):
        FaultSpec(type="latency", ttl_s=0)


def test_expired_faults_are_pruned():
    store = make_store()
    store.add(FaultSpec(type="latency", ttl_s=0.05))
    assert len(store.list()) == 1
    time.sleep(0.08)
    assert store.list() == []
    assert len(store.prune()) == 1


def test_remove_and_clear():
    store = make_store()
    a = store.add(FaultSpec(type="latency", ttl_s=5))
    store.add(FaultSpec(type="error", ttl_s=5))
    assert store.remove(a.id) is True
    assert store.remove(a.id) is False
    assert store.clear() == 1
    assert store.list() == []


def test_faults_survive_restart_through_file_until_ttl(tmp_path):
    store = make_store(tmp_path)
    keep = store.add(FaultSpec(type="crash", ttl_s=30))
    store.add(FaultSpec(type="latency", ttl_s=0.05))
    time.sleep(0.08)
    again = make_store(tmp_path)
    assert [f.id for f in again.list()] == [keep.id]
    data = json.loads((tmp_path / "faults.json").read_text())
    assert {f["type"] for f in data["faults"]} <= {"crash", "latency"}


def test_unreadable_fault_file_is_ignored(tmp_path):
    (tmp_path / "faults.json").write_text("{not json")
    assert make_store(tmp_path).list() == []


def test_route_glob_and_probability():
    store = make_store()
    f = store.add(FaultSpec(type="error", route="/v1/pre*", probability=0.0, ttl_s=5))
    assert f.matches("/v1/predict") and not f.matches("/v2/predict")
    assert not any(f.roll() for _ in range(100))


def test_token_file_is_owner_only(tmp_path):
    path = tmp_path / "run" / "token"
    path.parent.mkdir()
    path.write_text("old")
    os.chmod(path, 0o644)  # a wider file there already is replaced, not reused
    assert write_secret(path, "abc") == "abc"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_secret(path) == "abc"
