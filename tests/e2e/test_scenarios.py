"""A scenario played with plain Chaos Toolkit (`chaos run`) against a live stack.

Every scenario's steady state before, its deviation during the fault and its recovery
after the documented mitigation (while the fault lasts) are checked through the drill, one
drill per scenario, in tests/e2e/test_drill_scenarios.py.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAULT_TTL_S = 90  # the experiments use 60 s; here recovery must come before expiry
STEADY_TIMEOUT_S = 90

pytestmark = pytest.mark.slow


def load(path: Path) -> tuple[dict, dict]:
    experiment = json.loads(path.read_text())
    ext = next(e for e in experiment["extensions"] if e["name"] == "gameday")
    return experiment, ext


def call(provider: dict, run: str, **override):
    module = importlib.import_module(provider["module"])
    return getattr(module, provider["func"])(**{**provider.get("arguments", {}), **override},
                                             run=run)


def hypothesis(experiment: dict, run: str) -> dict[str, tuple[float, bool]]:
    """Each steady-state probe's value and whether it is within its tolerance."""
    out = {}
    for probe in experiment["steady-state-hypothesis"]["probes"]:
        value = call(probe["provider"], run)
        low, high = probe["tolerance"]
        out[probe["name"]] = (round(float(value), 4), low <= value <= high)
    return out


def wait_for(predicate, timeout: float, every: float = 1.0):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes; the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every)


def quietly(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # resets touch replicas that may not be ejected, and so on
        return err


def reset(run: str) -> None:
    """Faults cleared on every process, policy reset, replicas re-admitted, model v1.

    A replica in a crash loop or OOM loop is down most of the time and its faults survive
    restarts (an OOM loop may never get to serve its admin API), so clearing is retried
    until it succeeds on every process or the fault has expired."""
    from gameday.chaos import actions, probes
    from gameday.stack.state import read_state

    for proc in read_state(Path(run) / "stack.json").processes:
        cleared = wait_for(lambda p=proc: not isinstance(
            quietly(actions.clear_faults, p.name, p.replica, run=run), Exception),
            FAULT_TTL_S + 10, 0.2)
        assert cleared, f"could not clear the faults of {proc.id}"
    quietly(actions.set_gateway_policy, {}, replace=True, run=run)
    ready = wait_for(lambda: quietly(probes.service_ready, "classifier", run=run) is True, 90)
    assert ready, "classifier replicas not ready after the reset"
    for replica in (0, 1):
        quietly(actions.uneject_replica, "classifier", replica, run=run)
    quietly(actions.deploy_model_version, "v1", run=run)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from gameday.load import start_load
    from gameday.stack.local import Stack
    from gameday.stack.spec import build_spec

    home = tmp_path_factory.mktemp("scenarios") / ".gameday"
    spec = build_spec(free_ports=True, memory_limits=["classifier=200M"])
    with Stack(spec, home=home) as stack:
        handle = start_load("steady", users=8, duration_s=1500, run=stack.run)
        try:
            time.sleep(10)  # the first scrapes and canaries
            yield str(stack.run.path)
        finally:
            handle.stop()


@pytest.mark.timeout(300)
def test_chaos_run_plays_a_scenario_with_plain_chaos_toolkit(live, tmp_path):
    """`chaos run` on the live stack: baseline met, the fault deviates the hypothesis after
    the method (no responder here), the rollbacks run; the journal says so."""
    import os
    import subprocess
    import sys

    run = live
    reset(run)
    experiment, _ = load(ROOT / "experiments/accelerator-throttling.json")
    assert wait_for(lambda: all(ok for _, ok in hypothesis(experiment, run).values()),
                    STEADY_TIMEOUT_S, 2)
    journal_path = tmp_path / "journal.json"
    chaos = Path(sys.executable).parent / "chaos"
    out = subprocess.run(
        [str(chaos), "--no-log-file", "run", str(ROOT / "experiments/accelerator-throttling.json"),
         "--journal-path", str(journal_path)],
        cwd=Path(run).parents[2], env={**os.environ, "GAMEDAY_RUN": run},
        capture_output=True, text=True, timeout=240)
    reset(run)
    assert out.returncode == 1, out.stdout + out.stderr  # chaos run: 1 when deviated
    journal = json.loads(journal_path.read_text())
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    assert [r["status"] for r in journal["run"]] == ["succeeded"]
    assert journal["deviated"] is True
    assert journal["steady_states"]["after"]["steady_state_met"] is False
    assert journal["rollbacks"], "the rollbacks ran"
