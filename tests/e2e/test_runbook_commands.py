"""A runbook, followed exactly as written, in a live interactive drill.

One drill of xid-error-burst (`gameday drill run xid-error-burst`, no --auto) in a temp dir.
Once it pages, the shell blocks of its runbook's "How to confirm" section (and those of the
other runbooks and the README's common moves) run as written (bash, `gameday` and `jq` from
PATH): they must succeed and the admin API calls must answer
JSON, with the URLs and token of this run (no fixed port anywhere). The scenario's briefing
and answer key are held to what the drill shows (both replicas up and ready, only replica 0
failing, no 5xx but fallback answers). Then the acknowledgement, the scenario's documented
lever and the note run exactly as the runbook's "Mitigations" block shows them; the drill
must recover, accept `gameday incident resolve` and pass.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "xid-error-burst"
SHELL_FENCE = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.M | re.S)


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def shell_blocks(text: str) -> list[str]:
    return [m.group(1) for m in SHELL_FENCE.finditer(text)]


def command_words(line: str) -> list[str]:
    return shlex.split(line.split(" #", 1)[0])


def lever_line(words: list[str]) -> tuple[str, dict] | None:
    """(lever, arguments) of a `gameday incident mitigate` line, as the CLI parses them."""
    if words[:3] != ["gameday", "incident", "mitigate"]:
        return None
    args, rest = {}, words[4:]
    for flag, item in zip(rest[::2], rest[1::2], strict=True):
        assert flag == "--arg", words
        key, _, raw = item.partition("=")
        try:
            args[key] = json.loads(raw)
        except ValueError:
            args[key] = raw
    return words[3], args


def json_documents(text: str) -> list:
    """Every JSON value printed one after another (curl prints no newline)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(text, at)) < len(text):
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def timeline(cwd: Path) -> list[dict]:
    runs = cwd / ".gameday" / "runs"
    found = list(runs.iterdir()) if runs.exists() else []
    path = found[0] / "timeline.jsonl" if found else None
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(cwd: Path, kind: str, timeout: float, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in timeline(cwd):
            if event["kind"] == kind:
                return event
        assert proc.poll() is None, f"the drill ended (exit {proc.returncode}) before {kind!r}"
        time.sleep(0.5)
    raise AssertionError(f"no {kind!r} event after {timeout} s")


@pytest.mark.slow
def test_runbook_checks_and_mitigation_work_as_written_in_a_live_drill(tmp_path):
    require_binary("jq")
    require_binary("curl")
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "gameday").exists():
        pytest.skip(f"no 'gameday' entry point next to {sys.executable} (pip install -e .)")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "GAMEDAY_WHO": "runbook-test", "COLUMNS": "160"}
    env.pop("GAMEDAY_RUN", None)
    scenario = next(e for e in json.loads((ROOT / "experiments" / f"{SCENARIO}.json")
                                          .read_text())["extensions"] if e["name"] == "gameday")
    runbook = (ROOT / scenario["runbook"]).read_text()
    checks = shell_blocks(section(runbook, "How to confirm"))
    assert checks and any("curl" in block for block in checks), scenario["runbook"]
    # the other runbooks' checks and the README's common moves, in the same live drill
    others = [block for path in sorted((ROOT / "runbooks").glob("*.md"))
              if path != ROOT / scenario["runbook"]
              for block in shell_blocks(section(path.read_text(), "Common moves"
                                                if path.name == "README.md"
                                                else "How to confirm"))]
    [actions] = shell_blocks(section(runbook, "Mitigations"))[:1]
    documented = [(m["lever"], m["arguments"]) for m in scenario["mitigations"]]
    to_run = [line for line in actions.splitlines() if line.strip() and (
        command_words(line)[:3] in (["gameday", "incident", "ack"],
                                    ["gameday", "incident", "note"])
        or lever_line(command_words(line)) in documented)]
    assert any(lever_line(command_words(line)) for line in to_run), \
        f"{scenario['runbook']}: no mitigate line for {documented}"

    def sh(script: str) -> subprocess.CompletedProcess:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, f"{script}\nexit {done.returncode}\n" \
                                     f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done

    t0 = time.monotonic()
    with open(tmp_path / "drill.out", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gameday.cli.main", "drill", "run",
                                 SCENARIO], cwd=tmp_path, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        page = wait_for(tmp_path, "page", 150, proc)
        assert page["alert"] == scenario["alerts"][0]["name"]
        paged_at = time.monotonic()
        answers: list = []
        for block in checks + others:
            done = sh(block)
            assert done.stdout.strip(), block
            if "curl" in block:
                found = json_documents(done.stdout)
                assert len(found) >= block.count("curl -s"), done.stdout[:2000]
                assert all(isinstance(a, dict) and "detail" not in a for a in found), \
                    done.stdout[:2000]
                answers += found
        assert answers and all("upstreams" in a or "timeouts" in a or "version" in a
                               for a in answers), answers  # upstreams, policy, model
        pool = [a["upstreams"]["classifier"]["replicas"] for a in answers if "upstreams" in a]
        assert pool and len(pool[0]) == 2, answers  # GET /admin/upstreams, this run's gateway
        checked_s = time.monotonic() - paged_at
        # the briefing's and the answer key's claims, as the live drill shows them: both
        # replicas up and ready, never restarted; only replica 0 fails
        state = json.loads(sh("gameday status --json").stdout)
        classifiers = [p for p in state["processes"] if p["name"] == "classifier"]
        assert [(p["ready"], p["restarts"]) for p in classifiers] == [(True, 0)] * 2, state
        assert pool[0][0]["failures"] > 0 and pool[0][1]["failures"] == 0, pool
        said = [sh(line).stdout for line in to_run]
        assert any("eject_replica done" in s for s in said), said
        wait_for(tmp_path, "recovered", 150, proc)
        sh("gameday incident resolve")
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:  # a failed check: Ctrl-C stops the drill and its stack
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    took = time.monotonic() - t0
    output = (tmp_path / "drill.out").read_text()
    assert proc.returncode == 0, output[-3000:]
    [run] = list((tmp_path / ".gameday" / "runs").iterdir())
    score = json.loads((run / "score.json").read_text())
    [lever] = score["mitigations"]
    assert (lever["lever"], lever["args"]) in documented and lever["grade"] == "helped", \
        json.dumps(lever)
    assert score["verdict"]["result"] == "pass", score["verdict"]
    # failed batches are not retried into 5xx: the gateway answers from its cache or a guess
    assert score["requests"]["failed"] == 0 and score["requests"]["fallbacks"] > 0, \
        score["requests"]
    kinds = [e["kind"] for e in timeline(tmp_path)]
    assert "ack" in kinds and "note" in kinds and "resolve" in kinds, kinds
    print(f"\nrunbook {scenario['runbook']}: {len(checks)} check blocks (and "
          f"{len(others)} of the other runbooks) ran in "
          f"{checked_s:.1f} s while paged; {len(to_run)} action lines; drill {took:.0f} s "
          f"wall, verdict {score['verdict']['result']}")
