"""Every generated alert has a runbook, every runbook_url resolves, and every ``gameday ...``
command a runbook names (in a code span or block) parses with the real CLI: its path exists,
its options and arguments are accepted, a lever it pulls exists and takes the arguments
given. No runbook hard-codes a port (drills run on free ports), and each scenario's runbook
shows its documented levers as ``gameday incident mitigate`` commands."""

import inspect
import json
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


# -- every command parses with the real CLI ---------------------------------------------


def words_of(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def parse_failure(command: str) -> str | None:
    """None when the real CLI accepts the command line (path, options, arguments, and for
    ``incident mitigate`` the lever and its arguments), else why not."""
    if (why := resolve(command)) is not None:
        return why
    words = words_of(command)
    node, path = typer.main.get_command(app), []
    rest = words[1:]
    while is_group(node):
        node, path, rest = node.commands[rest[0]], [*path, rest[0]], rest[1:]
    if "--help" in rest:
        return None
    try:
        ctx = node.make_context(path[-1], list(rest))
    except Exception as err:  # typer vendors click: its UsageError is not importable as such
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        return f"'gameday {' '.join(path)}' refuses {rest!r}: {message}"
    if path == ["incident", "mitigate"]:
        return lever_failure(ctx.params["lever"], ctx.params.get("arg") or [])
    if path == ["up"]:
        return settings_failure(ctx.params)
    return None


def lever_failure(lever: str, items: list[str]) -> str | None:
    from gameday.drill.levers import levers

    known = levers()
    if lever not in known:
        return f"no lever {lever!r}; levers: {', '.join(known)}"
    args = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            return f"--arg {item!r}: not KEY=VALUE"
        try:
            args[key] = json.loads(raw)
        except ValueError:
            args[key] = raw  # a bare word, as the CLI takes it
    try:
        inspect.signature(known[lever]).bind(**args)
    except TypeError as err:
        return f"lever {lever} refuses {args!r}: {err}"
    return None


def settings_failure(params: dict) -> str | None:
    from gameday.errors import GamedayError
    from gameday.stack.spec import build_spec

    try:
        build_spec(replicas=params["replicas"] or (), sets=params["sets"] or (),
                   memory_limits=params["memory_limits"] or (), base_port=None,
                   free_ports=True)
    except GamedayError as err:
        return str(err)
    return None


RUNBOOK_PAGES = sorted(RUNBOOKS.glob("*.md"))  # templates/ hold no commands to run


@pytest.mark.parametrize("path", RUNBOOK_PAGES, ids=lambda p: p.name)
def test_every_runbook_command_parses_with_the_real_cli(path):
    found = commands_in(path.read_text())
    bad = [f"{path.name}:{n}: {cmd!r}: {why}" for n, cmd in found
           if (why := parse_failure(cmd))]
    assert not bad, "\n".join(bad)


def test_the_parse_check_catches_bad_options_arguments_and_levers():
    assert parse_failure("gameday slo status") is None
    assert parse_failure("gameday incident mitigate eject_replica --arg upstream=classifier "
                         "--arg replica=0") is None
    assert parse_failure("gameday incident mitigate set_gateway_policy --arg "
                         "'policy={\"admission\": {\"max_in_flight\": 8}}'") is None
    assert parse_failure("gameday up --detach --set llm.kv_slots=16") is None
    assert "No such option: --watchh" in parse_failure("gameday slo status --watchh")
    assert "Missing argument" in parse_failure("gameday scale classifier")
    assert "no lever 'drain_node'" in parse_failure("gameday incident mitigate drain_node")
    assert "missing a required argument: 'replica'" in parse_failure(
        "gameday incident mitigate eject_replica --arg upstream=classifier")
    assert "unexpected keyword argument 'replicas'" in parse_failure(
        "gameday incident mitigate restart_service --arg service=llm --arg replicas=2")
    assert "unknown setting 'kv_slot'" in parse_failure("gameday up --set llm.kv_slot=16")


# -- no fixed port ---------------------------------------------------------------------

PORT = re.compile(r"(?:https?://[^\s/`'\"]+|127\.0\.0\.1|localhost|0\.0\.0\.0):\d+")


@pytest.mark.parametrize("path", RUNBOOK_PAGES, ids=lambda p: p.name)
def test_runbooks_hard_code_no_port(path):
    """Drills run on free ports: a URL comes from `gameday status`, never from the page."""
    bad = [f"{path.name}:{n}: {m.group(0)}" for n, line in
           enumerate(path.read_text().splitlines(), 1) for m in PORT.finditer(line)]
    assert not bad, "\n".join(bad)


def test_the_port_check_catches_fixed_ports():
    assert PORT.search("curl http://127.0.0.1:8080/admin/upstreams")
    assert PORT.search("--url http://localhost:9090")
    assert not PORT.search('curl -s "$GATEWAY/admin/upstreams"')


# -- each scenario's runbook shows its levers -------------------------------------------


def scenarios() -> list[dict]:
    found = []
    for path in sorted((ROOT / "experiments").glob("*.json")):
        for ext in json.loads(path.read_text()).get("extensions", []):
            if ext.get("name") == "gameday":
                found.append(ext)
    return found


@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s["scenario"])
def test_each_scenario_runbook_shows_its_levers_as_incident_commands(scenario):
    runbook = ROOT / scenario["runbook"]
    commands = [words_of(c) for _, c in commands_in(runbook.read_text())]
    pulled = {w[3] for w in commands if w[1:3] == ["incident", "mitigate"] and len(w) > 3}
    missing = [m["lever"] for m in scenario["mitigations"] if m["lever"] not in pulled]
    assert not missing, f"{runbook.name} (scenario {scenario['scenario']}) never shows " \
                        f"'gameday incident mitigate' with {missing}"
