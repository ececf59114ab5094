"""A service in a crash loop never takes the supervisor, or the other services, down."""

from __future__ import annotations

import time

import httpx

from gameday.stack import Stack
from gameday.stack.events import read_events
from gameday.stack.process import pid_alive
from tests.integration.test_stack import dummy_spec


def test_a_replica_crashing_over_and_over_leaves_the_rest_serving(tmp_path):
    with Stack(dummy_spec(backoff_max_s=1.0), home=tmp_path / ".gameday") as stack:
        others = [stack.process("alpha", 0), stack.process("beta", 0)]
        crashes, answered, deadline = 0, 0, time.monotonic() + 8
        while time.monotonic() < deadline:
            victim = stack.process("alpha", 1)
            if victim.state == "ready" and victim.pid and pid_alive(victim.pid):
                try:  # it exits with code 9 from inside, as a crashing service does
                    httpx.post(victim.url + "/crash?code=9", timeout=1)
                except httpx.HTTPError:
                    pass
                crashes += 1
            for p in others:  # the others keep answering all along
                assert httpx.get(p.url + "/readyz", timeout=1).status_code == 200
                answered += 1
            assert stack.state().status == "running"
            time.sleep(0.1)
        assert crashes >= 4, crashes
        delays = [e["delay_s"] for e in read_events(stack.run.supervisor_log)
                  if e["event"] == "backoff" and e["process"] == "alpha-1"]
        assert delays[:3] == [0.2, 0.4, 0.8] and max(delays) <= 1.0, delays  # capped
        for p in others:
            assert stack.process(p.name, p.replica).restarts == 0
        # left alone, it comes back
        back = stack.wait_for("alpha", 1, lambda p: p.state == "ready", 10)
        assert back.last_exit_code == 9 and back.restarts >= crashes - 1
        print(f"\ncrash loop: {crashes} crashes of alpha-1 in 8 s, backoff {delays}; "
              f"the other two answered {answered} probes")
