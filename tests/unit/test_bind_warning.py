"""Services bind loopback by default and warn once, at start, when bound anywhere else."""

from __future__ import annotations

import importlib
import json
import logging

import pytest

from gameday_services.common import serve as serve_module
from gameday_services.common.serve import is_loopback, serve

SERVICES = ("features", "classifier", "llm", "gateway")
WARNING = ("listening on {}: the admin API (fault injection) is reachable from other hosts; "
           "protect the token")


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_binds_loopback_by_default(service, monkeypatch):
    monkeypatch.delenv(f"{service.upper()}_HOST", raising=False)
    settings = importlib.import_module(f"gameday_services.{service}.settings").Settings()
    assert settings.host == "127.0.0.1"
    assert is_loopback(settings.host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1",
                                  "[::1]", " 127.0.0.1 "])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.10", "10.0.0.5",
                                  "fe80::1", "example.org", "my-laptop", "0"])
def test_other_hosts_are_exposed(host):
    assert not is_loopback(host)


@pytest.fixture()
def served(monkeypatch, capsys):
    """Run ``serve`` as ``python -m gameday_services.features`` does, with uvicorn stubbed out;
    return (uvicorn's keyword arguments, the JSON log lines written to stderr)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    calls = []
    monkeypatch.setattr(serve_module.uvicorn, "run", lambda app, **kw: calls.append(kw))
    # the collector's tuning is for the service process, not this test session's
    monkeypatch.setattr(serve_module, "tune_gc", lambda: calls.append("tune_gc"))
    settings_cls = importlib.import_module("gameday_services.features.settings").Settings

    def run(host: str | None):
        if host is None:
            monkeypatch.delenv("FEATURES_HOST", raising=False)
        else:
            monkeypatch.setenv("FEATURES_HOST", host)
        serve("features", settings_cls, lambda settings: object())
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
        return calls[-1], lines

    try:
        yield run
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def warnings_in(lines: list[dict]) -> list[dict]:
    return [e for e in lines if "reachable from other hosts" in json.dumps(e)]


def test_the_collector_is_tuned_once_the_app_is_built_before_serving(served, monkeypatch):
    served(None)
    events = []
    monkeypatch.setattr(serve_module.uvicorn, "run", lambda app, **kw: events.append("run"))
    monkeypatch.setattr(serve_module, "tune_gc", lambda: events.append("tune_gc"))
    serve("features", importlib.import_module("gameday_services.features.settings").Settings,
          lambda settings: events.append("app"))
    assert events == ["app", "tune_gc", "run"]


def test_bound_to_all_interfaces_warns_once(served):
    kwargs, lines = served("0.0.0.0")
    assert kwargs["host"] == "0.0.0.0"
    found = warnings_in(lines)
    assert len(found) == 1
    assert found[0]["level"] == "warning" and found[0]["service"] == "features"
    assert found[0]["msg"] == WARNING.format("0.0.0.0")


def test_bound_to_a_lan_address_warns_with_that_address(served):
    kwargs, lines = served("192.168.1.10")
    assert kwargs["host"] == "192.168.1.10"
    [warning] = warnings_in(lines)
    assert warning["msg"] == WARNING.format("192.168.1.10")


@pytest.mark.parametrize("host", [None, "127.0.0.1", "localhost", "::1"])
def test_loopback_is_quiet(served, host):
    kwargs, lines = served(host)
    assert kwargs["host"] == (host or "127.0.0.1")
    assert warnings_in(lines) == []
