"""Prometheus and Alertmanager as child servers: ready on loopback, and a child that cannot
start (its port is taken) is reported at once, naming its log, not after the timeout."""

from __future__ import annotations

import socket
import time

import pytest

from gameday.errors import StackError
from gameday.prometheus.alertmanager import AlertmanagerConfig, AlertmanagerServer
from gameday.prometheus.server import PrometheusConfig, PrometheusServer
from tests.conftest import require_binary


def _servers(tmp_path, port):
    return {
        "prometheus": lambda: PrometheusServer(PrometheusConfig(targets={}),
                                               tmp_path / "prom", port),
        "alertmanager": lambda: AlertmanagerServer(
            AlertmanagerConfig("http://127.0.0.1:9/alerts"), tmp_path / "am", port),
    }


def _binary(kind: str) -> None:
    require_binary("prometheus" if kind == "prometheus" else "prometheus-alertmanager")


@pytest.mark.parametrize("kind", ["prometheus", "alertmanager"])
def test_a_child_on_a_taken_port_fails_fast_naming_its_log(tmp_path, kind):
    _binary(kind)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = _servers(tmp_path, port)[kind]()
        began = time.monotonic()
        with pytest.raises(StackError) as err:
            server.start(timeout_s=60)
        waited = time.monotonic() - began
    assert f"{kind} exited with code" in str(err.value)
    assert str(server.log_path) in str(err.value)
    assert waited < 30, f"waited {waited:.1f} s of the 60 s timeout for a dead child"
    assert server.exited() is not None


@pytest.mark.parametrize("kind", ["prometheus", "alertmanager"])
def test_a_child_gets_ready_and_stops(tmp_path, kind):
    _binary(kind)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = _servers(tmp_path, port)[kind]()
    try:
        server.start(timeout_s=30)
        assert server.ready()
    finally:
        server.stop()
    assert server.exited() is not None
    assert not server.ready()
