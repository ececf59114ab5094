"""Every generated alert has a runbook, every runbook_url resolves, and every ``gameday ...``
command a runbook names (in a code span or block) exists in the Typer app."""

import re
import shlex
from pathlib import Path

import pytest
import typer.main
import yaml

from gameday.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"
CATALOGS = ("drill-12h", "google-30d")
FENCE = re.compile(r"^\s*(```|~~~)")
SPAN = re.compile(r"(`+)(.+?)\1")
COMMAND = re.compile(r"(?:^|[;&|(]\s*|\$\s+)(gameday\s[^;&|#`)]*)")


def generated_alerts() -> list[tuple[str, dict]]:
    found = []
    for catalog in CATALOGS:
        files = sorted((ROOT / "slos" / "_gen" / catalog).glob("*.rules.yml"))
        assert files, f"no generated rules for {catalog}"
        for path in files:
            for group in yaml.safe_load(path.read_text())["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule:
                        found.append((f"{path.relative_to(ROOT)}", rule))
    return found


ALERTS = generated_alerts()
ALERT_NAMES = sorted({rule["alert"] for _, rule in ALERTS})


def commands_in(text: str) -> list[tuple[int, str]]:
    """``gameday ...`` command lines in fenced blocks and inline code spans."""
    found, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        pieces = [line] if fenced else [m.group(2) for m in SPAN.finditer(line)]
        for piece in pieces:
            for match in COMMAND.finditer(piece.strip()):
                found.append((number, match.group(1).strip()))
    return found


def resolve(command: str) -> str | None:
    """None when the command path exists, else why not."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    # Typer may vendor its own click, so a group is whatever has subcommands.
    node = typer.main.get_command(app)
    path = ["gameday"]
    for word in words[1:]:
        if not is_group(node):
            return None  # reached a command: the rest are its arguments and options
        if word.startswith("-"):
            break
        sub = node.commands.get(word)
        if sub is None:
            return f"'{' '.join(path)}' has no subcommand {word!r}"
        node, path = sub, [*path, word]
    if is_group(node):
        return f"'{' '.join(path)}' is a group: name one of its subcommands"
    return None


def is_group(node) -> bool:
    return isinstance(getattr(node, "commands", None), dict)


@pytest.mark.parametrize("alert", ALERT_NAMES)
def test_every_generated_alert_has_a_runbook(alert):
    path = RUNBOOKS / f"{alert}.md"
    assert path.is_file(), f"alert {alert} has no runbook at {path.relative_to(ROOT)}"
    text = path.read_text()
    assert text.startswith(f"# {alert}\n")
    for section in ("## What it means", "## User impact", "## How to confirm",
                    "## Likely causes", "## Mitigations", "## Escalation"):
        assert section in text, f"{path.name}: no '{section}'"
    assert "slo:sli_error:ratio_rate" in text, f"{path.name}: no PromQL on the SLO's rules"


def test_every_runbook_url_points_at_an_existing_file():
    for source, rule in ALERTS:
        url = rule.get("annotations", {}).get("runbook_url")
        assert url, f"{source}: alert {rule['alert']} has no runbook_url"
        assert (ROOT / url).is_file(), f"{source}: runbook_url {url!r} is not a file"


RUNBOOK_FILES = sorted(RUNBOOKS.rglob("*.md"))


@pytest.mark.parametrize("path", RUNBOOK_FILES, ids=lambda p: str(p.relative_to(RUNBOOKS)))
def test_runbooks_name_only_existing_commands(path):
    bad = [f"{path.name}:{n}: {cmd!r}: {why}" for n, cmd in commands_in(path.read_text())
           if (why := resolve(cmd))]
    assert not bad, "\n".join(bad)


def test_runbooks_name_some_commands():
    assert len(commands_in((RUNBOOKS / "GatewayAvailabilityBudgetBurn.md").read_text())) >= 3


def test_command_check_catches_what_does_not_exist():
    assert resolve("gameday slo status --watch") is None
    assert resolve("gameday faults clear classifier") is None
    assert resolve("gameday up --detach") is None
    assert "'gameday' has no subcommand 'nosuchnoun'" in resolve("gameday nosuchnoun ack")
    assert "'gameday faults' has no subcommand 'nosuchverb'" in \
        resolve("gameday faults nosuchverb x")
    assert "is a group" in resolve("gameday faults")
    assert "is a group" in resolve("gameday slo --help")
    text = "run `gameday drill run x`\n```sh\n$ gameday status && gameday nope\n```\n"
    assert [c for _, c in commands_in(text)] == ["gameday drill run x", "gameday status",
                                                 "gameday nope"]
