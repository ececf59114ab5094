"""read_journal: a journal is a pass only when every part of the experiment went well."""

import json

import pytest

from gameday.chaos.journal import read_journal
from gameday.errors import ValidationError

PROBE = {"type": "probe", "name": "error-ratio-is-low"}
HYPOTHESIS = {"title": "ok", "probes": [PROBE]}


def state(met: bool, output=0.0) -> dict:
    return {"steady_state_met": met,
            "probes": [{"activity": PROBE, "status": "succeeded", "output": output,
                        "tolerance_met": met}]}


def journal(**overrides) -> dict:
    base = {"experiment": {"title": "t", "steady-state-hypothesis": HYPOTHESIS},
            "status": "completed", "deviated": False,
            "steady_states": {"before": state(True), "after": state(True), "during": []},
            "run": [{"activity": {"type": "action", "name": "inject"}, "status": "succeeded",
                     "output": []}],
            "rollbacks": []}
    base.update(overrides)
    return base


def write(tmp_path, data) -> str:
    path = tmp_path / "journal.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_completed_journal_is_ok(tmp_path):
    outcome = read_journal(write(tmp_path, journal()))
    assert outcome.ok and outcome.reasons == [] and outcome["status"] == "completed"
    assert outcome.verdict().startswith("PASSED: t")


def test_status_not_completed(tmp_path):
    outcome = read_journal(write(tmp_path, journal(status="interrupted")))
    assert not outcome.ok
    assert outcome.reasons == ["status is 'interrupted', not 'completed'"]


def test_baseline_not_met_even_with_status_completed(tmp_path):
    data = journal(steady_states={"before": state(False, 0.4), "after": None, "during": []},
                   run=[])
    outcome = read_journal(write(tmp_path, data))
    assert not outcome.ok
    assert outcome.reasons == ["baseline steady state not met (the method did not run): "
                               "error-ratio-is-low (got 0.4)"]


def test_failed_method_action_with_status_completed(tmp_path):
    data = journal(run=[{"activity": {"type": "action", "name": "inject"}, "status": "failed",
                         "exception": ["Traceback ...\n",
                                       "chaoslib.exceptions.ActivityFailed: boom\n"]}])
    outcome = read_journal(write(tmp_path, data))
    assert not outcome.ok and outcome.failed_activities == ["inject"]
    assert outcome.reasons == ["method action 'inject' failed: "
                               "chaoslib.exceptions.ActivityFailed: boom"]


def test_deviated_and_failed_rollback(tmp_path):
    data = journal(status="failed", deviated=True,
                   steady_states={"before": state(True), "after": state(False, 0.3)},
                   rollbacks=[{"activity": {"type": "action", "name": "clear"},
                               "status": "failed", "exception": ["ActivityFailed: gone"]}])
    outcome = read_journal(write(tmp_path, data))
    assert not outcome.ok and outcome.deviated
    assert outcome.reasons == [
        "status is 'failed', not 'completed'",
        "steady state deviated after the method: error-ratio-is-low (got 0.3)",
        "rollback 'clear' failed: ActivityFailed: gone"]
    assert outcome.to_dict()["ok"] is False


def test_unreadable_journals(tmp_path):
    with pytest.raises(ValidationError, match="no such journal"):
        read_journal(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValidationError, match="bad.json: not a readable JSON journal"):
        read_journal(tmp_path / "bad.json")
