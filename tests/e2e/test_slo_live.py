"""The embedded engine on a live stack: five quiet minutes burn nothing (availability error
ratios exactly 0, no burn above 1x, quality at v1's canary error rate); then a classifier
error fault pages, and the page clears after it ends."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gameday.prometheus.api import PrometheusAPI
from gameday.slo.names import format_duration
from gameday.slo.validate import load_slos
from gameday.slo.windows import load_catalog
from gameday.stack.admin import add_fault
from gameday.stack.local import Stack
from gameday.stack.spec import build_spec
from gameday.traffic import send_traffic
from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
SLOS = {s.id: s for s in load_slos([ROOT / "slos"])}
CATALOG = load_catalog(ROOT / "slos" / "windows", "drill-12h")
QUALITY = "classifier-classifier-prediction-quality"


def slo_status(cwd) -> dict:
    out = subprocess.run([sys.executable, "-m", "gameday.cli.main", "slo", "status", "--json"],
                         cwd=cwd, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    return {s["slo_id"]: s for s in body["slos"]}


def alert_windows(slo) -> list[str]:
    """The windows the SLO's alerts read (both windows of each of its severities' pairs)."""
    return sorted({format_duration(w) for a in CATALOG.alerts if a.severity in slo.severities
                   for w in (a.short_s, a.long_s)})


def quiet_error_ratios(api: PrometheusAPI, start: float, end: float) -> dict:
    """{(slo id, window): [error ratio every second]} of every SLO over [start, end]."""
    out = {}
    for slo_id, slo in SLOS.items():
        for window in alert_windows(slo):
            found = api.query_range(f'slo:sli_error:ratio_rate{window}{{sloth_id="{slo_id}"}}',
                                    start, end, 1.0)
            out[(slo_id, window)] = [v for series in found.values() for _, v in series]
    return out


def check_quiet_slos(api: PrometheusAPI, start: float, end: float) -> str:
    """Issue 14, Must show: with no fault under steady load every availability SLO's error
    ratio is exactly 0, no SLO burns above 1x in any window its alerts read, and the
    quality SLO's error ratio is v1's error rate on the canaries."""
    ratios = quiet_error_ratios(api, start, end)
    lines = []
    for (slo_id, window), values in sorted(ratios.items()):
        budget = SLOS[slo_id].error_budget
        if slo_id.endswith("-availability"):
            assert values and set(values) == {0.0}, (slo_id, window, sorted(set(values))[-5:])
        worst = max(values, default=0.0) / budget
        assert worst <= 1.0, f"{slo_id} burned {worst:.2f}x over {window} with no fault"
        lines.append(f"{slo_id} {window}: max burn {worst:.2f}x over {len(values)} s")
    wrong = api.query('sum(model_predictions_total{outcome="incorrect"})', at=end)[0].value
    right = api.query('sum(model_predictions_total{outcome="correct"})', at=end)[0].value
    measured = wrong / (wrong + right)
    # v1 gets 10.8% of the 1000 canary entities wrong (slos/README.md); thousands of canaries
    assert wrong + right > 2000 and abs(measured - 0.108) < 0.02, (wrong, right)
    sli = ratios[(QUALITY, "6m")][-1]  # the 6m window holds the whole quiet period
    assert abs(sli - measured) < 0.01, (sli, measured)
    lines.append(f"quality: SLI {sli:.4f} over 6m, canaries {measured:.4f} wrong "
                 f"({wrong + right:.0f} canaries)")
    return "\n".join(lines)


def check_quiet_budgets(cwd, prometheus_url: str) -> None:
    """The budget figures agree with the quiet: no bad event, 0.00% consumed, in both
    engines (`slo status` of the live monitor, and of Prometheus)."""
    embedded = slo_status(cwd)
    out = subprocess.run([sys.executable, "-m", "gameday.cli.main", "slo", "status", "--json",
                          "--engine", "prometheus", "--url", prometheus_url,
                          "--rules", str(ROOT / "slos" / "_gen")],
                         cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    prometheus = {s["slo_id"]: s for s in json.loads(out.stdout)}
    for slo_id in SLOS:
        if not slo_id.endswith("-availability"):
            continue
        for engine, body in (("embedded", embedded), ("prometheus", prometheus)):
            use = body[slo_id]["use"]
            assert use["bad"] == 0 and use["consumed_text"] == "0.00%", (engine, slo_id, use)
            assert use["total"] > 0, (engine, slo_id, use)


QUIET_S = 300  # issue 3: five fault-free minutes page nothing
FAULT_S = 60
AVAILABILITY = "gateway-gateway-availability"


# Seven minutes on one worker (five quiet, one fault, its clearing): the `long` suite, so
# `make test` stays under 20 minutes; CI runs both.
@pytest.mark.slow
@pytest.mark.long
@pytest.mark.timeout(900)
def test_quiet_minutes_page_nothing_then_a_classifier_outage_pages_and_clears(tmp_path):
    """Steady load; five quiet minutes; then every classifier replica answers 500 for 60 s.

    The gateway keeps answering 200 from its cache, but the availability SLO counts only
    the live model's answers, so the page fires (target: within 30 s) and clears after.
    """
    home = tmp_path / ".gameday"
    stop = threading.Event()
    require_binary("prometheus")
    # both engines run the same rules on the same stack (gameday up --prometheus)
    spec = build_spec(free_ports=True, sets=["stack.prometheus=true"])
    with Stack(spec, home=home) as stack:
        gateway = stack.url("gateway")

        def load():
            seed = 0
            while not stop.is_set():  # half the classify requests are labelled canaries
                seed += 1
                send_traffic(gateway, classify=40, generate=1, concurrency=4, seed=seed,
                             labels_url=stack.url("features"), canary_every=2)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        try:
            time.sleep(5)  # the first scrapes
            pages, tickets, checks = set(), set(), 0
            t_quiet, quiet_from = time.monotonic(), time.time()
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
            assert tickets == set(), tickets
            assert checks > QUIET_S / 4
            # From 30 s on: before, the windows hold a few hundred canaries, whose error
            # ratio strays up to 15% by chance (slos/README.md, "Minimum events").
            state, quiet_to = stack.state(), time.time()
            for engine, url in (("embedded", state.embedded_url),
                                ("prometheus", state.prometheus_url)):
                found = check_quiet_slos(PrometheusAPI(url), quiet_from + 30, quiet_to)
                print(f"{engine}:\n{found}")
            check_quiet_budgets(tmp_path, state.prometheus_url)

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
