"""The LLM's TTFT SLO on a live stack: quiet under steady generate load, and a 1.5 s latency
in front of the llm's engine pages it within the kv-cache-exhaustion scenario's detect time.

The latency fault delays the llm's HTTP layer, before its scheduler sees the request: the
engine's own histogram (llm_time_to_first_token_seconds) keeps reading fast first tokens
while every client waits more than 1.5 s. The SLO reads the gateway's histogram, measured
where the client is, so it burns and pages (issue 14, item 4).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gameday.drill.scenario import parse_scenario
from gameday.engine.exposition import fetch, total
from gameday.stack.admin import add_fault
from gameday.stack.local import Stack
from gameday.stack.spec import build_spec
from gameday.traffic import send_traffic
from tests.e2e.test_slo_live import slo_status

ROOT = Path(__file__).resolve().parents[2]
SLO = "llm-llm-time-to-first-token"
QUIET_S = 60
FAULT_S = 90
SLACK_S = 5  # `slo status` runs every ~1-2 s on a shared 2-core machine


def ttft_counts(url: str, name: str) -> tuple[float, float]:
    """(first tokens within 1 s, all first tokens) of a TTFT histogram on one /metrics."""
    samples, _ = fetch(url)
    return total(samples, f"{name}_bucket", le="1.0"), total(samples, f"{name}_count")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_steady_generate_is_quiet_and_a_slow_llm_pages_its_ttft_slo(tmp_path):
    scenario = parse_scenario(ROOT / "experiments" / "kv-cache-exhaustion.json")
    assert "LlmTimeToFirstTokenBudgetBurn" in scenario.alerts
    detect_s = scenario.detect_within_s
    stop = threading.Event()
    with Stack(build_spec(free_ports=True), home=tmp_path / ".gameday") as stack:
        gateway, llm = stack.url("gateway"), stack.url("llm")

        def load():  # about 6 generate and 6 classify requests a second
            while not stop.is_set():
                send_traffic(gateway, classify=6, generate=6, concurrency=4)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        try:
            time.sleep(5)  # the first scrapes
            worst: dict[str, float] = {}
            states = set()
            t_quiet = time.monotonic()
            while time.monotonic() - t_quiet < QUIET_S:
                st = slo_status(tmp_path)[SLO]
                states.add(st["state"])
                for window, burn in st["burn_by_window"].items():
                    if burn == burn:  # NaN: no traffic in that window yet
                        worst[window] = max(worst.get(window, 0.0), burn)
                time.sleep(2)
            print(f"\n{QUIET_S} s of steady load: {SLO} states {sorted(states)}, "
                  f"worst burn per window {worst}")
            assert "page" not in states and "ticket" not in states, states
            # 1x at most in every window but the 5 s one, where a single first token held
            # up by the shared CPU is already 3x (it pages only with the 1 min window)
            assert worst and max(b for w, b in worst.items() if w != "5s") <= 1.0, worst

            gw0, en0 = ttft_counts(gateway, "gateway_time_to_first_token_seconds"), \
                ttft_counts(llm, "llm_time_to_first_token_seconds")
            llms = [p for p in stack.state().processes if p.name == "llm"]
            t_fault = time.monotonic()
            add_fault(llms, stack.token, {"type": "latency", "params": {"delay_ms": 1500},
                                          "route": "/v1/generate", "ttl_s": FAULT_S})
            paged_after = None
            while time.monotonic() - t_fault < detect_s + SLACK_S:
                st = slo_status(tmp_path)[SLO]
                if st["state"] == "page":
                    paged_after = time.monotonic() - t_fault
                    break
                time.sleep(1)
            gw1, en1 = ttft_counts(gateway, "gateway_time_to_first_token_seconds"), \
                ttft_counts(llm, "llm_time_to_first_token_seconds")
            gw_fast, gw_all = gw1[0] - gw0[0], gw1[1] - gw0[1]
            en_fast, en_all = en1[0] - en0[0], en1[1] - en0[1]
            paged = "not fired" if paged_after is None else f"after {paged_after:.1f} s"
            print(f"during the fault: gateway {gw_fast:.0f} of {gw_all:.0f} first tokens "
                  f"within 1 s, engine {en_fast:.0f} of {en_all:.0f}; page {paged} "
                  f"(scenario detect time {detect_s} s)")
            assert paged_after is not None, st
            assert paged_after <= detect_s + SLACK_S
            # the two vantage points: users waited, the engine saw nothing wrong
            assert en_all > 0 and en_fast / en_all > 0.9
            assert gw_all > 0 and gw_fast / gw_all < 0.5
        finally:
            stop.set()
            loader.join(30)
