"""``gameday postmortem lint``: one test per class of problem, and a clean document."""

from pathlib import Path

import pytest

from gameday.errors import ValidationError
from gameday.postmortem.lint import lint_file, lint_text

CLEAN = """# Postmortem: classifier bad rollout

## Summary

Classify requests failed for two minutes after a model rollout; a rollback ended it.

## Impact

412 of 5000 requests failed; 31 % of the gateway availability budget.

## Root causes

The release pipeline did not compare canary accuracy before promoting v2.

## Trigger

Deploying classifier v2.

## Detection

GatewayAvailabilityBudgetBurn paged after 32 s.

## Response

The on-call engineer acknowledged within 18 s and checked the runbook.

## Recovery

Rolling back to v1 on both replicas.

## Timeline

| Time (UTC) | Who | Event |
|---|---|---|
| 2026-11-18 11:06:50 | chaos | fault_start |
| 2026-11-18 11:07:22 | - | alert_firing |
| 2026-11-18 11:08:10 | alice | mitigation |

## Lessons learned

### What went well

The page linked the right runbook.

### What went wrong

The rollout had no accuracy gate.

### Where we got lucky

Traffic was low.

## Action items

| Action | Type | Owner | Due date | Tracking |
|---|---|---|---|---|
| Gate rollouts on canary accuracy | prevent | bob | 2026-12-15 | https://example.com/T-1 |
| Add a rollback lever to the CLI | Mitigate | alice | 2026-12-01 | https://example.com/T-2 |

## Supporting information

Run folder .gameday/runs/x.
"""


def codes(text, **kw):
    return [(f.level, f.code) for f in lint_text(text, **kw)]


def test_clean_postmortem_has_no_findings():
    assert lint_text(CLEAN) == []


@pytest.mark.parametrize("section", ["Summary", "Root causes", "Timeline", "Action items",
                                     "Supporting information"])
def test_missing_section(section):
    text = CLEAN.replace(f"## {section}\n", "## Something else\n")
    found = lint_text(text)
    assert [(f.level, f.code, f.message) for f in found
            if f.code == "missing-section"] == [("error", "missing-section",
                                                 f"no '## {section}' section")]


def test_missing_lessons_subsection():
    found = lint_text(CLEAN.replace("### Where we got lucky", "### Other"))
    assert [f.message for f in found] == ["no '### Where we got lucky' under Lessons learned"]


def test_leftover_prompts_are_errors_unless_allowed():
    text = CLEAN.replace("Traffic was low.", "> TODO(human): what limited the damage?")
    found = lint_text(text)
    assert [(f.level, f.code) for f in found] == [("error", "prompt")]
    assert found[0].line == text.splitlines().index("> TODO(human): what limited the damage?") + 1
    allowed = lint_text(text, allow_prompts=True)
    assert [(f.level, f.code) for f in allowed] == [("warning", "prompt")]


def test_action_item_without_owner_or_type():
    text = CLEAN.replace("| prevent | bob |", "|  | - |")
    found = lint_text(text)
    assert {(f.level, f.code) for f in found} == {("error", "action-owner"),
                                                  ("error", "action-type")}
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "Gate rollouts" in row)
    assert {f.line for f in found} == {line}


def test_action_item_with_an_unknown_type():
    found = lint_text(CLEAN.replace("| prevent |", "| fix |"))
    assert [(f.code, f.message) for f in found] == [
        ("action-type", "type must be one of mitigate, prevent, process, got 'fix'")]


def test_action_item_without_tracking_link_is_an_error():
    assert codes(CLEAN.replace("| https://example.com/T-1 |", "|  |")) == \
        [("error", "action-tracking")]


def test_hollow_postmortems_fail():
    """Empty required sections and no action items are errors (exit 1), not warnings."""
    lines = CLEAN.splitlines()
    start = lines.index("## Summary") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("## "))
    hollow = "\n".join(lines[:start] + [""] + lines[end:]) + "\n"
    assert ("error", "empty-section") in codes(hollow)
    assert "'## Summary' is empty" in [f.message for f in lint_text(hollow)]
    start = lines.index("## Timeline") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("## "))
    no_timeline = "\n".join(lines[:start] + ["", "| Time | Event |", "|---|---|", ""]
                            + lines[end:]) + "\n"
    assert "'## Timeline' is empty: no timeline entries" in [f.message
                                                            for f in lint_text(no_timeline)]
    start = lines.index("## Action items") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    no_items = "\n".join(lines[:start] + ["", "| Action | Type | Owner | Due date | Tracking |",
                                          "|---|---|---|---|---|", ""] + lines[end:]) + "\n"
    assert ("error", "action-none") in codes(no_items)


def test_action_items_without_a_table():
    text = CLEAN.replace("| Action | Type | Owner | Due date | Tracking |", "| Action |")
    assert ("error", "action-table") in codes(text)


def test_timeline_out_of_order():
    text = CLEAN.replace("| 2026-11-18 11:07:22 |", "| 2026-11-18 11:05:00 |")
    found = lint_text(text)
    assert [(f.level, f.code) for f in found] == [("error", "timeline-order")]
    assert "'2026-11-18 11:05:00' is earlier than the row before it" in found[0].message


def test_timeline_with_times_of_day_and_unreadable_times():
    text = CLEAN.replace("2026-11-18 11:06:50", "11:06:50").replace(
        "2026-11-18 11:07:22", "11:07:22 UTC").replace("2026-11-18 11:08:10", "soon after")
    assert codes(text) == [("warning", "timeline-time")]


@pytest.mark.parametrize("phrase", ["human error", "should have", "careless", "fault of",
                                    "Should not have", "blamed", "forgot to"])
def test_blaming_language_is_a_warning(phrase):
    text = CLEAN.replace("The rollout had no accuracy gate.", f"It was {phrase} the deployer.")
    found = lint_text(text)
    assert [(f.level, f.code) for f in found] == [("warning", "blame")]
    assert phrase.lower() in found[0].message.lower()


def test_blameless_and_code_blocks_are_not_blame():
    text = CLEAN.replace("Traffic was low.",
                         "A blameless review.\n\n```\nlog: human error budget\n```\n")
    assert lint_text(text) == []


def test_headings_in_code_blocks_do_not_count():
    text = CLEAN.replace("## Trigger\n", "```\n## Trigger\n```\n")
    assert ("error", "missing-section") in codes(text)


def test_unreadable_files(tmp_path):
    with pytest.raises(ValidationError, match="nothere.md: no such file"):
        lint_file(tmp_path / "nothere.md")
    binary = tmp_path / "bin.md"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValidationError, match="bin.md: not UTF-8 text"):
        lint_file(binary)
    with pytest.raises(ValidationError, match="not a regular file"):
        lint_file(tmp_path)
    with pytest.raises(ValidationError, match="/dev/zero: not a regular file"):
        lint_file(Path("/dev/zero"))  # read without limit once; the kernel killed it
    big = tmp_path / "big.md"
    big.write_bytes(b"a" * ((1 << 20) + 1))
    with pytest.raises(ValidationError, match="big.md: larger than 1024 KiB"):
        lint_file(big)
