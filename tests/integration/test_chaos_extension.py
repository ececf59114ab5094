"""The Chaos Toolkit extension against one real stack: validate, run, probes, failures."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gameday
from gameday.chaos import actions, probes
from gameday.chaos.journal import read_journal
from gameday.timeline import read_events
from gameday.traffic import send_traffic
from tests.integration.test_stack import cleanup, needs_services, start_real_stack
from tests.integration.test_stack import gameday as gameday_cli
from tests.procs import ROOT

EXAMPLE = ROOT / "examples" / "experiments" / "own_experiment.json"
CHAOS = str(Path(sys.executable).with_name("chaos"))

pytestmark = needs_services


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("chaos-stack")
    data, _ = start_real_stack(cwd)
    run_path = Path(data.get("run_dir") or next((cwd / ".gameday" / "runs").iterdir()))
    yield cwd, data, run_path
    cleanup(cwd, data)


def chaos(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHAOS, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def url_of(data: dict, name: str) -> str:
    return next(p["url"] for p in data["processes"] if p["name"] == name)


def test_example_validates(stack):
    cwd, _, _ = stack
    result = chaos(cwd, "validate", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Experiment looks valid" in result.stderr + result.stdout


def test_plain_chaos_run_of_the_example_passes_and_records_the_timeline(stack):
    cwd, _, run_path = stack
    journal = cwd / "own-journal.json"
    result = chaos(cwd, "run", "--journal-path", str(journal), str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = read_journal(journal)
    assert outcome.ok, outcome.verdict()
    kinds = [e["kind"] for e in read_events(run_path)]
    assert "fault_start" in kinds and "fault_end" in kinds
    assert kinds.index("fault_start") < kinds.index("fault_end")
    assert kinds[0] == "experiment_start" and kinds[-1] == "experiment_end"
    start = next(e for e in read_events(run_path) if e["kind"] == "fault_start")
    assert start["service"] == "classifier" and start["fault"]["type"] == "latency"


def test_probes_return_sane_numbers_with_traffic(stack):
    _, data, run_path = stack
    run = str(run_path)
    result = send_traffic(url_of(data, "gateway"), classify=120, generate=4,
                          labels_url=url_of(data, "features"), canary_every=3)
    assert result.classify_ok > 0
    time.sleep(3)  # a few scrapes and rule evaluations
    assert 0.0 <= probes.error_ratio(window="1m", run=run) <= 1.0
    assert 0.0 < probes.latency_quantile(window="1m", run=run) < 30
    assert 0.0 < probes.latency_quantile(service="classifier", route="/v1/predict",
                                         quantile=0.5, window="1m", run=run) < 30
    assert 0.0 < probes.ttft_quantile(window="1m", run=run) < 30
    assert 0.0 <= probes.model_quality(window="1m", run=run) <= 1.0
    burn = probes.slo_burn_rate(slo="gateway-availability", window="1m", run=run)
    assert burn >= 0.0 and math.isfinite(burn)
    assert probes.error_budget_remaining(slo="gateway-gateway-availability", run=run) <= 1.0
    assert isinstance(probes.alert_firing(run=run), bool)
    assert probes.service_ready(service="classifier", run=run) is True
    added = actions.inject_fault(service="classifier", fault_type="latency",
                                 params={"delay_ms": 50}, ttl="20s", replica=1, run=run)
    assert [f["process"] for f in added] == ["classifier-1"]
    assert actions.clear_faults(service="classifier", run=run) == 1


def write_experiment(cwd: Path, name: str, steady_range: list, method_args: dict) -> Path:
    experiment = {
        "title": f"deliberately failing: {name}", "description": "test",
        "steady-state-hypothesis": {"title": "impossible or fine", "probes": [{
            "type": "probe", "name": "error-ratio", "tolerance": {"type": "range",
                                                                  "range": steady_range},
            "provider": {"type": "python", "module": "gameday.chaos.probes",
                         "func": "error_ratio", "arguments": {}}}]},
        "method": [{"type": "action", "name": "inject", "provider": {
            "type": "python", "module": "gameday.chaos.actions", "func": "inject_fault",
            "arguments": method_args}}],
        "rollbacks": [{"type": "action", "name": "clear", "provider": {
            "type": "python", "module": "gameday.chaos.actions", "func": "clear_faults",
            "arguments": {}}}],
    }
    path = cwd / f"{name}.json"
    path.write_text(json.dumps(experiment))
    return path


def test_unmet_baseline_and_failed_action_are_failures(stack):
    cwd, _, run_path = stack
    baseline = write_experiment(cwd, "baseline", [5, 6], {"service": "gateway",
                                                          "fault_type": "latency"})
    result = gameday_cli(cwd, "chaos", "run", str(baseline), "--run", str(run_path),
                         timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout and "baseline steady state not met" in result.stdout
    outcome = read_journal(run_path / "chaos" / "baseline-journal.json")
    assert not outcome.ok and any("baseline" in r for r in outcome.reasons)

    action = write_experiment(cwd, "action", [0, 1], {"service": "gateway",
                                                      "fault_type": "no-such-fault"})
    result = gameday_cli(cwd, "chaos", "run", str(action), timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "method action 'inject' failed" in result.stdout


def test_chaos_discover_lists_the_extension(stack, tmp_path):
    if not hasattr(gameday, "discover"):
        pytest.skip("'chaos discover gameday' imports the top-level package: needs "
                    "gameday.discover (src/gameday/__init__.py re-exporting "
                    "gameday.chaos.discover)")
    out = tmp_path / "discovery.json"
    result = chaos(stack[0], "discover", "--no-install", "--no-system-info",
                   "--discovery-path", str(out), "gameday")
    assert result.returncode == 0, result.stdout + result.stderr
    names = {a["name"] for a in json.loads(out.read_text())["activities"]}
    assert {"inject_fault", "error_ratio", "slo_burn_rate"} <= names


def test_safeguard_halts_an_experiment_that_burns_the_budget(stack):
    cwd, _, run_path = stack
    action = {"type": "action", "provider": {"type": "python",
                                             "module": "gameday.chaos.actions"}}

    def act(name, func, args, **extra):
        return {**action, "name": name, **extra,
                "provider": {**action["provider"], "func": func, "arguments": args}}

    experiment = {
        "title": "burns the budget", "description": "the safeguard must halt it",
        "controls": [{"name": "gameday", "provider": {
            "type": "python", "module": "gameday.chaos.controls",
            "arguments": {"max_budget_consumed": 0.02, "slos": ["gateway-availability"],
                          "interval": "1s"}}}],
        "method": [act("errors", "inject_fault", {"service": "classifier",
                                                  "fault_type": "error", "ttl": "90s"}),
                   act("load", "start_load", {"users": 4, "duration": "40s"},
                       pauses={"after": 60})],
        "rollbacks": [act("stop", "stop_load", {})],
    }
    path = cwd / "burn.json"
    path.write_text(json.dumps(experiment))
    result = gameday_cli(cwd, "chaos", "run", str(path), "--rollback-strategy", "always",
                         timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "status is 'interrupted'" in result.stdout
    events = read_events(run_path)
    tripped = [e for e in events if e["kind"] == "safeguard_tripped"]
    assert tripped and tripped[-1]["slo_id"] == "gateway-gateway-availability"
    assert any(e["kind"] == "fault_end" and e.get("by") == "safeguard" for e in events)
    assert actions.clear_faults(run=str(run_path)) == 0  # the safeguard removed them
