"""Every exercise of docs/learn/ is executed as written, and its worked answer holds.

The harness (tests/e2e/learn_harness.py) runs each page's console commands in a fresh
workspace, as a learner would type them; then each test checks the worked answer against
what the commands left (score.json, the outputs, the files).

What a test cannot type, it scripts (said at each test): exercise 5's three terminals run
as three folders, the facilitator's drill in the background and each teammate's commands once
the drill has paged, with the URL the drill printed in place of the page's example URL; the
browser view of the console is H6's browser suite (tests/e2e/test_console_browser.py).

The pages with a drill, a stack, a load run or backtests are ``long`` (make test-long); the
rest of their commands and the cheap pages run in make test.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.e2e.learn_harness import (
    EXAMPLE_URL,
    EXERCISES,
    LEARN,
    PAGES,
    ROOT,
    Command,
    Session,
    commands,
    is_drill,
    page,
    saved_files,
    section,
)
from tests.procs import wait_until as wait_for

# -- every page: its shape, and every gameday command parses with the real CLI -----------


def test_the_index_links_every_exercise_and_each_has_steps_and_a_worked_answer():
    index = (LEARN / "README.md").read_text()
    assert len(EXERCISES) == 7
    for path in EXERCISES:
        assert f"]({path.name})" in index, path.name
        for title in ("Steps", "What to look at", "Worked answer"):
            assert section(path, title).strip(), f"{path.name}: no '## {title}'"
        assert commands(path), f"{path.name}: no $ command in a console block"
    facilitator = (ROOT / "docs" / "facilitator.md").read_text()
    for title in ("Preparing", "Roles", "Timing", "Running the console", "Debrief"):
        assert f"\n## {title}" in facilitator, title


@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_every_gameday_command_of_the_page_parses_with_the_real_cli(path):
    from tests.unit.test_runbooks import parse_failure

    failures = []
    for cmd in commands(path):
        text = re.sub(r"\$\([^)]*\)", "RUN", cmd.text.split(" #", 1)[0])
        if not text.startswith("gameday "):
            continue
        if why := parse_failure(shlex.join(shlex.split(text.replace("\\\n", " ")))):
            failures.append(f"{cmd}: {why}")
    assert failures == []


def test_the_harness_reads_commands_exits_terminals_and_files():
    cmds = commands(page("07-own-scenario.md"))
    assert cmds[0].text == "gameday drill new my-first-scenario" and cmds[0].expect == 0
    assert [c.expect for c in cmds if "My_Scenario" in c.text] == [2]
    wheel = commands(page("05-team-wheel.md"))
    assert {c.terminal for c in wheel} == {"facilitator", "ann", "bob"}
    assert [c.repeat for c in wheel if "resolve" in c.text] == [True]
    assert "worked-postmortem.md" in saved_files(page("06-postmortem.md"))


# -- the cheap pages, in make test ------------------------------------------------------


def test_readme_setup(tmp_path):
    session = Session(tmp_path, page("README.md"))
    session.run_all(commands(page("README.md")))
    assert "no drills yet" in session.output("gameday history")
    assert (session.ws / "gameday-ws" / "experiments" / "xid-error-burst.json").is_file()


def test_exercise_1_without_the_drill(tmp_path):
    """The steps before the drill: the SLOs validate, and the scenario's author expects the
    page the worked answer predicts (the drill itself: the long test below)."""
    path = page("01-predict-pages.md")
    session = Session(tmp_path, path)
    session.run_all([c for c in commands(path) if not is_drill(c)])
    assert "ok: 5 SLO(s)" in session.output("slo validate")
    shown = session.output("drill show slow-feature-store")
    assert "alerts: GatewayClassifyLatencyBudgetBurn" in shown
    answer = " ".join(section(path, "Worked answer").split())
    assert "**pages `GatewayClassifyLatencyBudgetBurn`**" in answer


def backtest(session: Session, spec: str, objective: str | None) -> dict[str, dict]:
    """``slo backtest --json`` of a design on the two shipped recordings, by recording name:
    the TTFT SLO's result on each."""
    args = f" --objective {objective}" if objective else ""
    out = session.run(Command("03", 0, f"gameday slo backtest {spec} --from quiet-baseline "
                                       f"--from kv-cache-exhaustion{args} --json")).stdout
    return {Path(r["recording"]).name.split(".")[0]: r["slos"][0] for r in json.loads(out)}


def pages(result: dict) -> int:
    return sum(1 for e in result["episodes"] if e["severity"] == "page")


def paged_incidents(result: dict) -> list[dict]:
    return [i for i in result["incidents"] if i["detect_s"].get("page") is not None]


@pytest.mark.long  # six backtests of 2 h and 5 min recordings: 15 to 40 s on 2 shared cores
@pytest.mark.slow
def test_exercise_3_too_strict_too_loose_just_right(tmp_path):
    """The shipped design pages for the KV-cache incident and never on the quiet baseline;
    the strict one pages on the quiet baseline; the loose one misses the incident."""
    path = page("03-ttft-slo.md")
    session = Session(tmp_path, path)
    session.run_all(commands(path))
    right = backtest(session, "slos/llm.yaml", None)
    strict = backtest(session, "ttft-strict.yaml", "99.9")
    loose = backtest(session, "ttft-loose.yaml", "90")
    assert pages(right["quiet-baseline"]) == 0 and right["quiet-baseline"]["incidents"] == []
    assert paged_incidents(right["kv-cache-exhaustion"])
    assert pages(strict["quiet-baseline"]) > 10
    assert paged_incidents(loose["kv-cache-exhaustion"]) == []
    assert pages(loose["quiet-baseline"]) == 0
    answer = " ".join(section(path, "Worked answer").split())
    assert f"{pages(strict['quiet-baseline'])} pages" in answer


def test_exercise_6_on_a_run_folder(tmp_path):
    """Exercise 6 on a run folder of a scored drill made for the test (the long test runs it
    on the demo's own run): the draft fails the lint for its prompts only, the worked answer
    lints clean."""
    from tests.unit.test_postmortem_render import make_run

    path = page("06-postmortem.md")
    session = Session(tmp_path, path)
    runs = session.ws / ".gameday" / "runs"
    make_run(runs / "20261118-110630-abcd")
    (session.ws / ".gameday" / "current").write_text("20261118-110630-abcd\n")
    session.run_all(commands(path))
    check_exercise_6(session)


def check_exercise_6(session: Session) -> None:
    draft = (session.ws / "my-postmortem.md").read_text()
    assert "TODO(human)" in draft
    assert "error[prompt]" in session.output("lint my-postmortem.md   # exit 1")
    assert "0 error(s)" in session.output("--allow-prompts")
    assert "worked-postmortem.md: 0 error(s), 0 warning(s)" in session.output(
        "lint worked-postmortem.md")


def test_exercise_7_own_scenario(tmp_path):
    from gameday.drill.scenario import parse_scenario

    path = page("07-own-scenario.md")
    session = Session(tmp_path, path)
    session.run_all(commands(path))
    experiments = session.ws / "experiments"
    assert "my-first-scenario" in session.output("gameday drill list")
    assert "already exists" in session.output("drill new my-first-scenario   # exit 2")
    assert parse_scenario(experiments / "my-kv-variant.json").title == "Slots run out again"
    # the worked answer's edit (the learner's, scripted): the fault moves to replica 1, with
    # its rollback, mitigation, diagnosis and root cause; the scenario still validates
    mine = experiments / "my-first-scenario.json"
    experiment = json.loads(mine.read_text())
    assert experiment["method"][0]["provider"]["arguments"]["replica"] == 0
    text = json.dumps(experiment).replace('"replica": 0', '"replica": 1')
    text = text.replace("classifier replica 0", "classifier replica 1")
    text = text.replace("readmit-classifier-0", "readmit-classifier-1")
    text = text.replace("replica 0 answers", "replica 1 answers")
    mine.write_text(text)
    shown = session.run(Command("07", 0, "gameday drill show my-first-scenario")).stdout
    assert "Some classify requests fail (my-first-scenario, SEV3)" in shown
    scenario = parse_scenario(mine)
    assert scenario.diagnosis["component"] == "classifier replica 1"
    assert scenario.mitigations[0].arguments == {"upstream": "classifier", "replica": 1}
    answer = section(path, "Worked answer")
    assert '"replica": 1' in answer and "classifier replica 1" in answer


# -- the long pages: drills, a stack, load (make test-long) ------------------------------


def pages_sent(run: Path) -> set[str]:
    score = json.loads((run / "score.json").read_text())
    return {p["alert"] for p in score["pages"] if p.get("severity") == "page"}


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_exercise_1_the_drill_pages_what_was_predicted(tmp_path):
    path = page("01-predict-pages.md")
    session = Session(tmp_path, path)
    session.run_all(commands(path))
    run = session.current_run()
    assert pages_sent(run) == {"GatewayClassifyLatencyBudgetBurn"}
    score = json.loads((run / "score.json").read_text())
    assert score["scenario"] == "slow-feature-store" and score["mode"] == "auto"


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_exercises_2_and_6_the_demo_its_report_and_its_postmortem(tmp_path):
    path = page("02-first-drill.md")
    session = Session(tmp_path, path)
    session.run_all(commands(path))
    run = session.current_run()
    score = json.loads((run / "score.json").read_text())
    assert score["scenario"] == "xid-error-burst" and score["mode"] == "auto"
    assert score["detecting_alert"]["alert"] == "GatewayAvailabilityBudgetBurn"
    assert pages_sent(run) == {"GatewayAvailabilityBudgetBurn"}
    assert [(m["lever"], m["grade"]) for m in score["mitigations"]] == \
        [("eject_replica", "helped")]
    assert score["verdict"]["result"] == "pass"
    history = session.output("gameday history")
    assert re.search(rf"{run.name} .* xid-error-burst .* auto .* pass ", history), history
    assert (run / "report.html").is_file() and (run / "postmortem.md").is_file()
    # exercise 6 on the demo's own run, in the same workspace
    six = page("06-postmortem.md")
    for name, body in saved_files(six).items():
        (session.ws / name).write_text(body)
    session.run_all(commands(six))
    check_exercise_6(session)


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_exercise_4_the_knee_is_where_throughput_stops_following_users(tmp_path):
    """As the page says: a machine so busy that p99 is over the SLO at the first step has no
    knee to find; the page is run again then (three tries), as a learner would."""
    from gameday.load.capacity import FOLLOW_SHARE, STEPS_FILE, per_user, read_steps, served

    path = page("04-capacity-knee.md")
    for attempt in range(3):
        session = Session(tmp_path / f"try-{attempt}", path)
        session.run_all(commands(path))
        text = session.output("load capacity")
        assert "knee: about" in text or "no knee found:" in text, text
        assert "SLO limit: about" in text or "no SLO limit found:" in text, text
        report = json.loads(next(out for cmd, out in session.stdouts.items() if "--json" in cmd))
        if report["knee_rps"] is not None:
            break
    else:
        pytest.fail(f"no knee in three tries: {report['knee_reason']}; {report['reason']}")
    steps = report["steps"]
    floor = FOLLOW_SHARE * per_user(steps[0])
    at = next(i for i, s in enumerate(steps) if s["users"] == report["knee_users"])
    # the page's definition: the step before the knee kept up (an earlier dip that recovered,
    # a neighbour's burst on a shared machine, is not the knee) ...
    assert at >= 1 and per_user(steps[at - 1]) >= floor, steps
    # ... and past the knee more users bring no throughput back: every later step stays under
    assert all(per_user(s) < floor for s in steps[at:]), steps
    around = (served(steps[at - 1]), served(steps[at]))
    assert min(around) <= report["knee_rps"] <= max(around)
    if report["crossed"]:  # the run stopped at the SLO limit's step
        assert steps[-1]["users"] == report["at_users"] and steps[-1]["p99_ms"] > 300
    steps_files = list((session.ws / ".gameday" / "runs").glob(f"*/load/*/{STEPS_FILE}"))
    assert len(steps_files) == 2 and all(read_steps(p) for p in steps_files)


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_exercise_5_a_team_works_a_wheel_from_three_terminals(tmp_path):
    """Scripted: the facilitator's drill runs in the background in the workspace; once it
    has paged, ann's and bob's blocks run in order from folders of their own (no run
    folder), with the drill's URL in place of the example URL; the resolve is repeated until
    the drill accepts it; the facilitator's last command runs after the drill has ended."""
    path = page("05-team-wheel.md")
    session = Session(tmp_path, path)
    cmds = commands(path)
    start = cmds[0]
    assert start.terminal == "facilitator" and "drill run --wheel" in start.text
    session.folders["facilitator"] = session.ws
    log = open(tmp_path / "drill-output.txt", "w")
    drill = subprocess.Popen(["bash", "-c", start.text], cwd=session.ws, env=session.env,
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        drill_file = wait_for(lambda: _drill_file(session), 90, "drill.json")
        url = wait_for(lambda: json.loads(drill_file.read_text()).get("controller_url"), 90,
                       "the controller URL")
        session.replace[EXAMPLE_URL] = url
        timeline = drill_file.parent / "timeline.jsonl"
        wait_for(lambda: _paged_after_steady_state(timeline), 180,
                 "a page after the steady state")
        last = [c for c in cmds if c.terminal == "facilitator"][-1]
        for cmd in cmds[1:]:
            if cmd is not last:
                session.run(cmd)
        assert drill.wait(timeout=240) == 0, (tmp_path / "drill-output.txt").read_text()
    finally:
        if drill.poll() is None:
            drill.terminate()
            drill.wait(timeout=60)
        log.close()
    session.run(last)
    run = drill_file.parent
    events = [json.loads(line) for line in timeline.read_text().splitlines() if line.strip()]
    acted = {(e["kind"], e.get("who")) for e in events}
    assert {("ack", "ann"), ("note", "ann"), ("hint", "bob"), ("diagnosis", "bob"),
            ("mitigation", "bob"), ("resolve", "ann")} <= acted, acted
    score = json.loads((run / "score.json").read_text())
    assert score["scenario"] == "xid-error-burst" and score["mode"] == "wheel"
    assert score["diagnosis"]["correct"] is True
    assert score["verdict"]["result"] == "pass"
    assert "the scenario was: Fell off the bus (xid-error-burst)" in \
        (tmp_path / "drill-output.txt").read_text()
    history = session.output("history --team ann,bob")
    assert run.name in history and "wheel" in history and "ann, bob" in history


def _paged_after_steady_state(timeline: Path) -> bool:
    """The drill checked its steady state, then paged: the teammates have work."""
    events = [json.loads(line) for line in timeline.read_text().splitlines() if line.strip()]
    steady = [e["ts"] for e in events if e["kind"] == "steady_state" and e.get("who") == "drill"]
    return bool(steady) and any(e["kind"] == "page" and e["ts"] > steady[0] for e in events)


def _drill_file(session: Session) -> Path | None:
    runs = session.ws / ".gameday" / "runs"
    found = list(runs.glob("*/drill.json")) if runs.exists() else []
    return found[0] if found else None
