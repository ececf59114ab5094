"""Postmortem drafts rendered from a synthetic run folder."""

import json
import os

import pytest

from gameday.errors import NotFoundError, ValidationError
from gameday.postmortem.facts import collect_facts
from gameday.postmortem.lint import lint_text
from gameday.postmortem.markers import PROMPT
from gameday.postmortem.render import new_postmortem, render_postmortem, write_new

T0 = 1795000000.0  # 2026-11-18 11:06:40 UTC

EVENTS = [
    {"ts": T0, "kind": "run_start", "who": "drill", "text": "scenario classifier-bad-model"},
    {"ts": T0 + 10, "kind": "fault_start", "who": "chaos", "service": "classifier",
     "fault": {"type": "bad_model", "params": {"mode": "nan"}}, "text": "NaN outputs"},
    {"ts": T0 + 42.5, "kind": "alert_firing", "alert": "GatewayAvailabilityBudgetBurn",
     "severity": "page", "slo_id": "gateway-gateway-availability"},
    {"ts": T0 + 60, "kind": "ack", "who": "alice"},
    {"ts": T0 + 70, "kind": "note", "who": "alice", "text": "errors | all from classifier"},
    {"ts": T0 + 90, "kind": "mitigation", "who": "alice", "lever": "classifier.rollback",
     "text": "rolled back to v1"},
    {"ts": T0 + 100, "kind": "fault_end", "who": "chaos"},
    {"ts": T0 + 130, "kind": "alert_resolved", "alert": "GatewayAvailabilityBudgetBurn",
     "severity": "page"},
    {"ts": T0 + 135, "kind": "recovered", "who": "drill"},
]
SCORE = {"version": 1, "scenario": "classifier-bad-model", "mode": "auto",
         "requests": {"total": 5000, "failed": 412},
         "window": {"start": T0, "end": T0 + 150, "duration_s": 150},
         "slos": [{"slo_id": "gateway-gateway-availability", "objective": 0.999,
                   "budget_consumed": 0.31, "period_s": 43200,
                   "events": {"bad": 412.0, "total": 5000.0, "span_s": 150}}],
         "diagnosis": {"stated": "bad model", "expected": "bad_model on classifier",
                       "correct": True, "attempts": 1}}
STATUS = {"updated_at": T0 + 140, "slos": [
    {"slo_id": "gateway-gateway-availability", "objective": 0.999, "budget_remaining": 0.68,
     "state": "ok"},
    {"slo_id": "llm-llm-time-to-first-token", "objective": 0.99, "budget_remaining": 0.97,
     "state": "ok"}]}
STACK = {"run_id": "20261118-110630-abcd", "started_at": T0 - 10, "processes": [
    {"name": "classifier", "replica": 1, "restarts": 2, "last_exit_reason": "OOMKilled"},
    {"name": "gateway", "replica": 0, "restarts": 0}]}


def make_run(folder, events=EVENTS, score=SCORE, status=STATUS, stack=STACK, shuffle=False):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(e) for e in events]
    if shuffle:
        lines = lines[::-1]
    (folder / "timeline.jsonl").write_text("".join(line + "\n" for line in lines))
    for name, body in (("score.json", score), ("slo-status.json", status),
                       ("stack.json", stack)):
        if body is not None:
            (folder / name).write_text(json.dumps(body))
    return folder


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "run")


def test_draft_fills_what_the_run_knows(run):
    text = render_postmortem(collect_facts(run))
    assert text.startswith("# Postmortem: classifier-bad-model (run 20261118-110630-abcd)")
    assert "Impact window: 2026-11-18 11:06:50 to 2026-11-18 11:08:55 UTC (2m05s)" in text
    assert "Gateway requests that failed with a 5xx: 412 of 5000 (8.24%)." in text
    assert "Bad by the SLO gateway-gateway-availability (what its SLI counts as bad): 412 of " \
        "5,000 events (8.24%)." in text
    # budget consumed is score.json's figure, printed as every surface prints it; nothing
    # is derived from the live status's period rule (its "budget left" extrapolates)
    assert "Error budget per SLO (share of the 12h period's error budget consumed during " \
        "the drill's 150s)" in text
    assert "| gateway-gateway-availability | 99.90% | 31.00% | 412 / 5,000 | ok |" in text
    assert "llm-llm-time-to-first-token" not in text.split("Error budget per SLO")[1] \
        .split("\n\n")[1]
    assert ("First alert: [GatewayAvailabilityBudgetBurn]"
            "(runbooks/GatewayAvailabilityBudgetBurn.md) (page,") in text
    assert "32s after impact started" in text
    assert "| Acknowledged | 2026-11-18 11:07:40 | 50s | 18s |" in text
    assert "| Recovered (steady state met again) | 2026-11-18 11:08:55 | 2m05s | 45s |" in text
    assert "`bad_model` on classifier: NaN outputs" in text
    assert "| alice | `classifier.rollback` | ok | - | 0 | rolled back to v1 |" in text
    assert "(judged right; answer key: bad_model on classifier)" in text
    assert "| 2026-11-18 11:07:50 | 1m00s | alice | note | errors \\| all from classifier |" \
        in text
    assert "Process classifier-1 restarted 2 time(s); last exit: OOMKilled." in text
    assert "gateway-0" not in text
    assert f"> {PROMPT}: two or three sentences" in text


def test_draft_passes_lint_apart_from_the_prompts(run):
    text = render_postmortem(collect_facts(run))
    assert [f for f in lint_text(text, allow_prompts=True) if f.level == "error"] == []
    codes = {f.code for f in lint_text(text) if f.level == "error"}
    assert codes == {"prompt"}


def test_timeline_is_sorted_whatever_the_line_order(tmp_path):
    text = render_postmortem(collect_facts(make_run(tmp_path / "r", shuffle=True)))
    rows = [line for line in text.splitlines() if line.startswith("| 2026-11-18")]
    timeline = rows[rows.index(next(r for r in rows if "run_start" in r)):]
    assert timeline == sorted(timeline)
    assert not [f for f in lint_text(text) if f.code == "timeline-order"]


def test_without_score_json_no_budget_figure_is_made_up(tmp_path):
    facts = collect_facts(make_run(tmp_path / "r", score=None))
    text = render_postmortem(facts)
    # the live status's period "budget left" is an extrapolation, not a drill figure
    assert facts["slos"] == [] and "68.0%" not in text and "32.0%" not in text
    assert f"Failed requests: {PROMPT}" in text
    assert "score.json: not in the run folder" in facts["notes"]
    assert "run_start" in text  # the timeline still renders


def test_run_without_alerts_or_mitigations(tmp_path):
    events = [e for e in EVENTS if e["kind"] not in ("alert_firing", "alert_resolved",
                                                      "mitigation")]
    text = render_postmortem(collect_facts(make_run(tmp_path / "r", events=events, score={},
                                                    status=None, stack=None)))
    assert "No alert fired during the run." in text
    assert "No lever was pulled." in text
    assert "| Detected (first alert firing) | - | - | - |" in text


def test_a_fault_that_ran_out_its_ttl_ends_the_impact_when_it_expired(tmp_path):
    # no fault_end: the services dropped the fault at its TTL, and the drill's clean-up
    # found nothing left to clear, so nothing wrote an event
    events = [e for e in EVENTS if e["kind"] not in ("fault_end", "recovered")]
    events[1] = {**events[1], "fault": {**events[1]["fault"], "ttl_s": 45}}
    facts = collect_facts(make_run(tmp_path / "r", events=events, score={}, status=None))
    assert facts["impact"]["end"] == "2026-11-18 11:07:35"  # T0 + 10 + 45
    assert facts["impact"]["duration"] == "45s"


def test_fault_windows_end_at_clear_or_ttl_whichever_first():
    from gameday.timeline import Event, fault_windows

    def start(ts, ttl):
        return Event(ts, "fault_start", data={"fault": {"type": "latency", "ttl_s": ttl}})

    events = [start(0, 60), Event(20, "fault_end"),  # cleared before its TTL
              start(100, 30),                          # ran out its TTL
              start(200, None), Event(500, "fault_end"),
              Event(600, "fault_start")]               # nothing known of its end
    assert fault_windows(events) == [(0, 20), (100, 130), (200, 500), (600, None)]


def test_bad_timeline_line_is_skipped_with_a_note_naming_file_and_line(tmp_path):
    run = make_run(tmp_path / "r")
    good = (run / "timeline.jsonl").read_text().splitlines()
    for bad, why in [('{"ts": 1795000042.5, "kind": ', "not valid JSON"),
                     ('{"ts": "yesterday", "kind": "ack"}', "'ts' must be Unix seconds"),
                     ('{"ts": 1795000042.5}', "'kind' must be")]:
        lines = list(good)
        lines[2] = bad
        (run / "timeline.jsonl").write_text("\n".join(lines) + "\n")
        facts = collect_facts(run)
        assert any(f"timeline.jsonl:3: {why}" in n and "line skipped" in n
                   for n in facts["notes"]), (why, facts["notes"])
        assert len(facts["timeline"]) == len(EVENTS) - 1


def test_torn_last_line_is_skipped_with_a_note(run):
    with open(run / "timeline.jsonl", "a") as fh:
        fh.write('{"ts": 1795000200, "kind": "no')
    facts = collect_facts(run)
    assert any("timeline.jsonl:10: skipped an unfinished last line" in n
               for n in facts["notes"])
    assert len(facts["timeline"]) == len(EVENTS)


def test_missing_run_folder_and_timeline(tmp_path):
    with pytest.raises(ValidationError, match=r"nope: no such run folder"):
        collect_facts(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match=r"empty/timeline\.jsonl: no such file"):
        collect_facts(tmp_path / "empty")


def test_unreadable_score_json(run):
    (run / "score.json").write_text("{not json")
    with pytest.raises(ValidationError, match=r"score\.json: not readable JSON"):
        collect_facts(run)


def test_new_never_overwrites_without_force(run):
    out, _ = new_postmortem(run)
    assert out == run / "postmortem.md"
    out.write_text("edited by people\n")
    with pytest.raises(ValidationError, match=r"postmortem\.md: already exists; pass --force"):
        new_postmortem(run)
    assert out.read_text() == "edited by people\n"
    new_postmortem(run, force=True)
    assert out.read_text().startswith("# Postmortem:")
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


def test_write_new_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "pm.md"
    write_new(target, "one\n")
    with pytest.raises(ValidationError):
        write_new(target, "two\n")
    write_new(target, "three\n", force=True)
    assert target.read_text() == "three\n"
    assert os.listdir(tmp_path) == ["pm.md"]
    with pytest.raises(ValidationError, match="no such folder"):
        write_new(tmp_path / "missing" / "pm.md", "x")


def test_missing_template_is_a_clear_error(run, tmp_path):
    with pytest.raises(NotFoundError, match=r"nothere\.j2: no such template"):
        render_postmortem(collect_facts(run), tmp_path / "nothere.j2")


def test_template_errors_name_the_template(run, tmp_path):
    bad = tmp_path / "bad.md.j2"
    bad.write_text("# x\n{{ no_such_thing.attr }}\n")
    with pytest.raises(ValidationError, match=r"bad\.md\.j2:2: template error"):
        render_postmortem(collect_facts(run), bad)


def test_draft_says_only_what_happened(tmp_path):
    """Auto mode with no diagnosis: nothing said about one; an alert that resolved and
    fired again is two rows; levers carry the grade score.json gave them."""
    events = EVENTS + [
        {"ts": T0 + 150, "kind": "alert_firing", "alert": "GatewayAvailabilityBudgetBurn",
         "severity": "page"},
        {"ts": T0 + 170, "kind": "alert_resolved", "alert": "GatewayAvailabilityBudgetBurn",
         "severity": "page"}]
    score = dict(SCORE, mode="auto", diagnosis={"stated": None, "expected": "x",
                                                "correct": None, "attempts": 0},
                 mitigations=[{"ts": T0 + 60, "who": "bob", "lever": "eject_replica",
                               "ok": True, "grade": "no effect", "cost": 5,
                               "why": "the burn did not fall by half"}],
                 verdict={"result": "fail", "reasons": ["recover: never happened"]},
                 points={"percent": 25.0})
    text = render_postmortem(collect_facts(make_run(tmp_path / "r", events=events,
                                                    score=score)))
    assert "Diagnosis stated" not in text and "None" not in text
    rows = [line for line in text.splitlines()
            if line.startswith("| GatewayAvailabilityBudgetBurn | page |")]
    assert len(rows) == 2 and rows[0].endswith("| 2026-11-18 11:08:50 | 1m28s |")
    assert rows[1].endswith("| 2026-11-18 11:09:30 | 20s |")
    assert "| bob | `eject_replica` | ok | no effect | -5 | the burn did not fall by half |" \
        in text
    assert "Drill verdict: fail (25.0% of the points): recover: never happened." in text
    assert "${" not in text
