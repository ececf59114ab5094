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


QUIET_S = 300  # issue 3: five fault-free minutes page nothing
FAULT_S = 60
AVAILABILITY = "gateway-gateway-availability"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quiet_minutes_page_nothing_then_a_classifier_outage_pages_and_clears(tmp_path):
    """Steady load; five quiet minutes; then every classifier replica answers 500 for 60 s.

    The gateway keeps answering 200 from its cache, but the availability SLO counts only
    the live model's answers, so the page fires (target: within 30 s) and clears after.
    """
    home = tmp_path / ".gameday"
    stop = threading.Event()
    with Stack(build_spec(free_ports=True), home=home) as stack:
        gateway = stack.url("gateway")

        def load():
            while not stop.is_set():
                send_traffic(gateway, classify=40, generate=1, concurrency=4)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        try:
            time.sleep(5)  # the first scrapes
            pages, tickets, checks = set(), set(), 0
            t_quiet = time.monotonic()
            while time.monotonic() - t_quiet < QUIET_S:
                for slo_id, st in slo_status(tmp_path).items():
                    if st["state"] == "page":
                        pages.add(slo_id)
                    elif st["state"] == "ticket":
                        tickets.add(slo_id)
                checks += 1
                time.sleep(2)
            print(f"\n{QUIET_S} s without faults: {checks} checks, pages {sorted(pages)}, "
                  f"tickets {sorted(tickets)}")
            assert pages == set(), pages
            assert checks > QUIET_S / 4

            classifiers = [p for p in stack.state().processes if p.name == "classifier"]
            t_fault = time.monotonic()
            add_fault(classifiers, stack.token, {"type": "error", "params": {"status": 500},
                                                 "route": "/v1/*", "ttl_s": FAULT_S})
            paged_after = None
            while time.monotonic() - t_fault < 30:
                st = slo_status(tmp_path)[AVAILABILITY]
                if st["state"] == "page":
                    paged_after = time.monotonic() - t_fault
                    break
                time.sleep(1)
            assert paged_after is not None, st
            print(f"page firing {paged_after:.1f} s after the classifier fault")
            time.sleep(max(0.0, FAULT_S - (time.monotonic() - t_fault)))  # the TTL ends
            t_end, cleared = time.monotonic(), None
            # The 6x page holds until its 30 s short window drops below 6x: ~30-40 s.
            while time.monotonic() - t_end < 90:
                st = slo_status(tmp_path)[AVAILABILITY]
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
