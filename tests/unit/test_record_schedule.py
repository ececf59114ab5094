"""Fault schedules of ``gameday record``: checked before anything starts, errors naming the
file, the entry and the field."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.errors import ValidationError
from gameday.record.schedule import load_schedule, validate_schedule
from gameday.record.session import RecordOptions, validate_options


def write(tmp_path, text: str):
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def test_a_valid_schedule_in_start_order(tmp_path):
    path = write(tmp_path, """
- at: 2m
  for: 90s
  fault: {service: features, type: slow_store, params: {delay_ms: 300}}
- at: 0
  for: 30
  fault: {service: classifier, type: xid_errors, params: {failed_fraction: 0.5}, replica: 0}
""")
    steps = load_schedule(path, duration_s=600)
    assert [(s.service, s.at_s, s.for_s) for s in steps] == [("classifier", 0.0, 30.0),
                                                            ("features", 120.0, 90.0)]
    assert steps[0].replica == 0 and steps[1].replica == "all"
    assert steps[1].body == {"type": "slow_store", "params": {"delay_ms": 300}, "route": "/v1/*",
                             "probability": 1.0, "ttl_s": 90.0}
    assert steps[1].describe() == "slow_store on features (delay_ms=300) at 2m for 90s"
    assert steps[1].as_dict()["for_s"] == 90.0


@pytest.mark.parametrize(("text", "message"), [
    ("at: 2m", "plan.yaml: expected a list of faults"),
    ("- 3", "plan.yaml: faults[0]: expected a mapping with at, for, fault, got 3"),
    ("- {at: 1m, for: 1m}", "plan.yaml: faults[0]: missing field 'fault'"),
    ("- {at: 1m, for: 1m, when: 2, fault: {}}", "plan.yaml: faults[0]: unknown field 'when'"),
    ("- {at: soon, for: 1m, fault: {service: llm, type: error}}",
     "plan.yaml: faults[0].at: "),
    ("- {at: 1m, for: -5, fault: {service: llm, type: error}}",
     "plan.yaml: faults[0].for: must be above zero, got -5"),
    ("- {at: 1m, for: 2h, fault: {service: llm, type: error}}",
     "plan.yaml: faults[0].for: at most 1h, got 7200.0"),
    ("- {at: 1m, for: 1m, fault: {type: error}}",
     "plan.yaml: faults[0].fault.service: expected a name, got None"),
    ("- {at: 1m, for: 1m, fault: {service: llm, type: melt}}",
     "plan.yaml: faults[0].fault.type: llm has no fault type 'melt'"),
    ("- {at: 1m, for: 1m, fault: {service: llm, type: latency, params: {delay_ms: -1}}}",
     "plan.yaml: faults[0].fault.params: fault 'latency' params"),
    ("- {at: 1m, for: 1m, fault: {service: llm, type: error, probability: 2}}",
     "plan.yaml: faults[0].fault.probability: must be from 0 to 1, got 2"),
    ("- {at: 1m, for: 1m, fault: {service: llm, type: error, replica: two}}",
     "plan.yaml: faults[0].fault.replica: expected a replica number or 'all', got 'two'"),
    ("- {at: 1m, for: 1m, fault: {service: llm, type: error, colour: red}}",
     "plan.yaml: faults[0].fault: unknown field 'colour'"),
    ("- {at: 20m, for: 1m, fault: {service: llm, type: error}}",
     "plan.yaml: faults[0].at: starts after the recording ends (10m), got '20m'"),
    ("- [1", "plan.yaml: not valid YAML"),
])
def test_schedule_errors_name_file_entry_and_field(tmp_path, text, message):
    with pytest.raises(ValidationError) as err:
        load_schedule(write(tmp_path, text), duration_s=600)
    assert message in str(err.value)


def test_an_empty_schedule_is_no_faults(tmp_path):
    assert load_schedule(write(tmp_path, ""), 60) == []
    assert validate_schedule([], "x.yaml") == []


def test_options_checked_before_a_stack_starts(tmp_path):
    out = tmp_path / "r.jsonl.gz"
    out.write_bytes(b"")
    with pytest.raises(ValidationError, match="r.jsonl.gz: exists; give --force"):
        validate_options(RecordOptions(out=out, duration_s=60))
    validate_options(RecordOptions(out=out, duration_s=60, force=True))
    with pytest.raises(ValidationError, match="-o: a recording is a .jsonl.gz file"):
        validate_options(RecordOptions(out=tmp_path / "r.json", duration_s=60))
    with pytest.raises(ValidationError, match="--load|--profile"):
        validate_options(RecordOptions(out=tmp_path / "n.jsonl.gz", duration_s=60,
                                       profile="storm"))
    with pytest.raises(ValidationError, match="--interval: at least"):
        validate_options(RecordOptions(out=tmp_path / "n.jsonl.gz", duration_s=60,
                                       interval_s=0.01))


def test_the_command_refuses_a_bad_schedule_before_starting(tmp_path):
    plan = write(tmp_path, "- {at: 1m, for: 1m, fault: {service: llm, type: melt}}")
    result = CliRunner().invoke(app, ["record", "-o", str(tmp_path / "r.jsonl.gz"),
                                      "--duration", "2m", "--faults", str(plan)])
    assert result.exit_code == 2
    assert "plan.yaml: faults[0].fault.type: llm has no fault type 'melt'" in result.output
    assert not (tmp_path / "r.jsonl.gz").exists()
