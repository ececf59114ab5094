"""The embedded engine on a live stack: a gateway error fault pages, and clears after it ends."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from gameday.stack.admin import add_fault
from gameday.stack.local import Stack
from gameday.stack.spec import build_spec
from gameday.traffic import send_traffic


def slo_status(cwd) -> dict:
    out = subprocess.run([sys.executable, "-m", "gameday.cli.main", "slo", "status", "--json"],
                         cwd=cwd, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    return {s["slo_id"]: s for s in body["slos"]}


@pytest.mark.slow
def test_error_fault_pages_within_30s_and_clears_after(tmp_path):
    home = tmp_path / ".gameday"
    stop = threading.Event()
    with Stack(build_spec(free_ports=True), home=home) as stack:
        gateway = stack.url("gateway")

        def load():
            while not stop.is_set():
                send_traffic(gateway, classify=40, generate=0, concurrency=4)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        try:
            time.sleep(8)  # steady state first
            quiet = slo_status(tmp_path)["gateway-gateway-availability"]
            assert quiet["state"] == "ok", quiet
            gw = [p for p in stack.state().processes if p.name == "gateway"]
            t_fault = time.monotonic()
            add_fault(gw, stack.token, {"type": "error", "params": {"status": 503},
                                        "route": "/v1/classify", "ttl_s": 20})
            paged_after = None
            while time.monotonic() - t_fault < 30:
                st = slo_status(tmp_path)["gateway-gateway-availability"]
                if st["state"] == "page":
                    paged_after = time.monotonic() - t_fault
                    break
                time.sleep(1)
            assert paged_after is not None, st
            print(f"\npage firing {paged_after:.1f} s after the fault")
            time.sleep(max(0.0, 20 - (time.monotonic() - t_fault)))  # the fault's TTL ends
            cleared = None
            t_end = time.monotonic()
            # The 6x page holds until its 30 s short window drops below 6x: ~30 s.
            while time.monotonic() - t_end < 60:
                st = slo_status(tmp_path)["gateway-gateway-availability"]
                if st["state"] != "page":
                    cleared = time.monotonic() - t_end
                    break
                time.sleep(1)
            assert cleared is not None, st
            print(f"page cleared {cleared:.1f} s after the fault ended")
        finally:
            stop.set()
            loader.join(15)
    assert (stack.run.path / "recording.jsonl.gz").stat().st_size > 0
