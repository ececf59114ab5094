"""``gameday incident ...``: respond to a running drill from another terminal.

The drill controller's URL is in ``<run>/drill.json``, and a drill token authenticates
every call: by default both come from the working directory's current run (or ``--run``):
the responder's token (``<run>/responder.token``) for a responder's commands, the
facilitator's (``<run>/facilitator.token``) for the facilitator's (pause, resume, extend,
abort, judge, answer-key; cli/facilitator.py). Never the services' admin token. A teammate
in another folder or on another machine passes them instead: ``--url URL --token-file
FILE`` (or ``$GAMEDAY_DRILL_URL`` and ``$GAMEDAY_TOKEN_FILE``). The token file is read,
never printed, and refused when its mode lets the group or others read it (as ssh refuses
a private key): ``chmod 600 FILE``.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import httpx
import typer

from gameday.errors import NotFoundError, StackError, ValidationError
from gameday.text import validate_text

from .render import make_console

app = typer.Typer(help="Respond to the running drill: ack, note, mitigate, resolve...",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
URL_ENV = "GAMEDAY_DRILL_URL"
TOKEN_FILE_ENV = "GAMEDAY_TOKEN_FILE"
RUN_OPTION = typer.Option(None, "--run", help="Run id (default: the current run).")
WHO_OPTION = typer.Option(None, "--who", help="Your name (default: $GAMEDAY_WHO, else your "
                                                "login name, never 'root').")
URL_OPTION = typer.Option(None, "--url", envvar=URL_ENV, show_envvar=True,
                          help="The drill controller's URL (drill.json's controller_url), "
                               "to respond without the run folder; needs --token-file.")
TOKEN_FILE_OPTION = typer.Option(None, "--token-file", envvar=TOKEN_FILE_ENV,
                                 show_envvar=True, dir_okay=False,
                                 help="A file holding a drill token (a copy of "
                                      "<run>/responder.token, or facilitator.token for the "
                                      "facilitator; mode 600); goes with --url.")


@dataclass(frozen=True)
class Target:
    """Which drill a command talks to: a run of this folder, or a URL and a token file."""

    run_id: str | None = None
    url: str | None = None
    token_file: Path | None = None
    facilitator: bool = False  # which of the run's tokens, without --token-file


def _who(who: str | None) -> str:
    """Who acts: --who, $GAMEDAY_WHO, the login name; a shared account (root) says nothing
    about who did it, so it becomes 'responder'."""
    import getpass
    import os

    if who:
        return who
    if os.environ.get("GAMEDAY_WHO", "").strip():
        return os.environ["GAMEDAY_WHO"].strip()
    try:
        name = getpass.getuser()
    except Exception:
        return "responder"
    return "responder" if name in ("root", "") else name


def _controller(target: Target) -> tuple[str, str]:
    """(URL, token) of the drill ``target`` names; errors say what is missing and how to
    give it."""
    if target.url or target.token_file:
        return _remote(target)
    from gameday.runfolder import resolve_run

    try:
        run = resolve_run(target.run_id)
    except NotFoundError as err:
        raise NotFoundError(f"{err}; to respond to a drill elsewhere, pass --url URL "
                            f"--token-file FILE (or ${URL_ENV} and ${TOKEN_FILE_ENV})") from None
    path = run.drill_file
    try:
        body = json.loads(path.read_text())
    except OSError:
        raise NotFoundError(f"{path}: no drill in run {run.id}; start one with "
                            f"'gameday drill run SCENARIO'") from None
    except ValueError:
        raise StackError(f"{path}: unreadable drill file") from None
    url = body.get("controller_url")
    if not url or body.get("times", {}).get("ended"):
        raise StackError(f"the drill of run {run.id} is over")
    from gameday.runfolder import read_secret

    path = run.facilitator_token_path if target.facilitator else run.responder_token_path
    token = read_secret(path)
    if token is None:
        raise NotFoundError(f"{path}: no such token in run {run.id} (a drill writes it when "
                            f"it starts)")
    return url, token


def _remote(target: Target) -> tuple[str, str]:
    if target.run_id:
        raise ValidationError("--run: give a run of this folder, or --url and --token-file "
                              "(not both)")
    if not target.url:
        raise ValidationError(f"--token-file {target.token_file}: which drill? pass --url URL "
                              f"(or ${URL_ENV}): the controller URL the drill prints, "
                              f"controller_url in its drill.json")
    url = target.url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) < 10:
        raise ValidationError(f"--url: expected http://HOST:PORT, got {target.url!r}")
    if target.token_file is None:
        raise ValidationError(f"--url {url}: the drill needs its token: pass --token-file "
                              f"FILE (or ${TOKEN_FILE_ENV}), a copy of a drill token file "
                              f"(<run>/responder.token, mode 600)")
    return url, read_token_file(Path(target.token_file))


def read_token_file(path: Path) -> str:
    """The token in ``path``; refused when unreadable, empty, or readable by the group or
    others (the token would let them act in the drill). Never echoed."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text().strip()
    except OSError as err:
        raise NotFoundError(f"--token-file {path}: cannot read it "
                            f"({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ValidationError(f"--token-file {path}: not a token (not text)") from None
    if os.name == "posix" and mode & 0o077:
        raise ValidationError(f"--token-file {path}: mode {mode:04o} lets others read the "
                              f"drill's token; run 'chmod 600 {path}'")
    if not text or len(text.split()) != 1:
        raise ValidationError(f"--token-file {path}: expected one token on one line")
    return text


FACILITATOR_PATHS = {"state": "/facilitator/state", "pause": "/facilitator/pause",
                     "resume": "/facilitator/resume", "extend": "/facilitator/extend",
                     "abort": "/facilitator/abort", "judge": "/facilitator/judge"}


def _call(target: Target, action: str, body: dict | None = None) -> dict:
    # arguments come from the terminal: undecodable bytes arrive as lone surrogates
    validate_text(body or {}, action)
    url, token = _controller(target)
    headers = {"Authorization": f"Bearer {token}"}
    path = FACILITATOR_PATHS.get(action) if target.facilitator else None
    path = path or ("/incident" if action == "status" else f"/incident/{action}")
    try:
        if action in ("status", "state"):
            resp = httpx.get(f"{url}{path}", headers=headers, timeout=10)
        else:
            resp = httpx.post(f"{url}{path}", json=body or {}, headers=headers, timeout=60)
    except httpx.HTTPError as err:
        raise StackError(f"drill controller at {url} not reachable ({err}); is the drill "
                         f"still running?") from None
    try:
        data = resp.json()
    except ValueError:
        raise StackError(f"drill controller answered {resp.status_code}, not JSON") from None
    if resp.status_code == 400:
        raise ValidationError(data.get("message", "bad request"))
    if resp.status_code == 401 and target.token_file:
        raise StackError(f"drill controller at {url} refused the token in "
                         f"{target.token_file}: is it a token of this drill "
                         f"(responder.token or facilitator.token)?")
    if resp.status_code == 403:
        raise StackError(f"{action}: facilitator only: pass the facilitator's token "
                         f"(--token-file, a copy of <run>/facilitator.token)")
    if resp.status_code >= 300:
        raise StackError(data.get("message", f"HTTP {resp.status_code}"))
    return data


def _say(data: dict) -> None:
    typer.echo(data.get("message") or json.dumps(data))


@app.command("status")
def status(run_id: str = RUN_OPTION, url: str = URL_OPTION,
        token_file: Path = TOKEN_FILE_OPTION,
           as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Pages so far, acknowledgement, mitigations, hints shown, levers available."""
    data = _call(Target(run_id, url, token_file), "status")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console = make_console()
    sc = data["scenario"]
    console.print(f"[bold]{sc['title']}[/]", highlight=False)
    now = data.get("burn_now") or {}
    for p in data["pages"]:
        kind = "TICKET" if p.get("severity") == "ticket" else "PAGE"
        current = now.get(p.get("slo_id")) or {}
        burn = current.get("burn")
        now_text = f"now {burn:.1f}x ({current.get('window')})" \
            if isinstance(burn, int | float) else "now -"
        console.print(f"{kind} {p.get('alert')} [{p.get('severity')}] slo {p.get('slo_id')} "
                      f"burn at page {p.get('burn_rate')}x, {now_text}; runbook "
                      f"{p.get('runbook_url')}", highlight=False, markup=False)
    if not data["pages"]:
        console.print("no page yet", highlight=False)
    console.print(f"acknowledged: {'yes' if data['acked_at'] else 'no'}", highlight=False)
    for m in data["mitigations"]:
        console.print(f"mitigation {m['lever']} {m['args']} by {m['who']}: "
                      f"{'ok' if m['ok'] else 'FAILED'}", highlight=False, markup=False)
    for i, h in enumerate(data["hints"], 1):
        console.print(f"hint {i}: {h}", highlight=False, markup=False)
    console.print("levers: " + ", ".join(lv["lever"] for lv in data["levers"]),
                  highlight=False, markup=False)
    _print_choices(console, data.get("diagnosis_choices") or {})


def _print_choices(console, choices: dict) -> None:
    for field, title in (("components", "components"), ("failure_modes", "failure modes")):
        options = choices.get(field) or []
        if options:
            console.print(f"diagnosis {title}: " + "; ".join(
                f"{i}. {o}" for i, o in enumerate(options, 1)), highlight=False, markup=False,
                soft_wrap=True)  # one line per field, never folded mid-choice


@app.command("ack")
def ack(alert: str = typer.Argument(None, help="The alert to acknowledge (default: the first "
                                                "page)."),
        run_id: str = RUN_OPTION, url: str = URL_OPTION,
        token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Acknowledge a page: the one named, else the first."""
    body = {"who": _who(who)}
    if alert:
        body["alert"] = alert
    _say(_call(Target(run_id, url, token_file), "ack", body))


@app.command("note")
def note(text: str = typer.Argument(..., help="What you saw or did."),
         run_id: str = RUN_OPTION, url: str = URL_OPTION,
        token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Add a note to the timeline (the scribe's log)."""
    _say(_call(Target(run_id, url, token_file), "note", {"text": text, "who": _who(who)}))


def _parse_args(items: list[str]) -> dict:
    args = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"--arg: expected KEY=VALUE, got {item!r}")
        try:
            args[key.strip()] = json.loads(raw)
        except ValueError:
            args[key.strip()] = raw
    return args


@app.command("mitigate")
def mitigate(lever: str = typer.Argument(..., help="A lever, e.g. rollback_model, "
                                                   "eject_replica, set_gateway_policy."),
             arg: list[str] = typer.Option(None, "--arg", help="KEY=VALUE (JSON values "
                                                               "allowed), repeatable."),
             run_id: str = RUN_OPTION, url: str = URL_OPTION,
        token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Pull a lever (see 'gameday incident status' for the list)."""
    _say(_call(Target(run_id, url, token_file), "mitigate",
               {"lever": lever, "arguments": _parse_args(arg or []), "who": _who(who)}))


@app.command("escalate")
def escalate(to: str = typer.Option("incident commander", "--to", help="Whom to pull in."),
             run_id: str = RUN_OPTION, url: str = URL_OPTION,
        token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Escalate: pull in someone else."""
    _say(_call(Target(run_id, url, token_file), "escalate", {"to": to, "who": _who(who)}))


@app.command("role")
def role(name: str = typer.Argument(..., help="commander, ops, comms, scribe or expert."),
         run_id: str = RUN_OPTION, url: str = URL_OPTION,
        token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Take a role in the incident."""
    _say(_call(Target(run_id, url, token_file), "role", {"role": name, "who": _who(who)}))


@app.command("hint")
def hint(run_id: str = RUN_OPTION, url: str = URL_OPTION,
        token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Show the next hint (counted in the score)."""
    data = _call(Target(run_id, url, token_file), "hint", {"who": _who(who)})
    typer.echo(data.get("hint") or data.get("message"))


@app.command("diagnose")
def diagnose(text: str = typer.Argument(None, help="Why you think so (kept for the debrief, "
                                                   "not judged)."),
             component: str = typer.Option(None, "--component", "-c",
                                           help="The component at fault: its text or its "
                                                "number in the choices."),
             mode: str = typer.Option(None, "--failure-mode", "-m",
                                      help="How it fails: text or number in the choices."),
             choices: bool = typer.Option(False, "--choices", help="Only list the choices."),
             run_id: str = RUN_OPTION, url: str = URL_OPTION,
        token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """State the root cause: pick a component and a failure mode from the drill's choices
    (judged exactly at the debrief); free text alone is recorded but not judged."""
    if choices or (component is None and mode is None and not text):
        data = _call(Target(run_id, url, token_file), "status")
        _print_choices(make_console(), data.get("diagnosis_choices") or {})
        return
    body = {"text": text or "", "who": _who(who)}
    if component is not None or mode is not None:
        body.update(component=component, failure_mode=mode)
    _say(_call(Target(run_id, url, token_file), "diagnose", body))


@app.command("resolve")
def resolve(run_id: str = RUN_OPTION, url: str = URL_OPTION,
        token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Declare the incident over; the drill wraps up and writes its report."""
    _say(_call(Target(run_id, url, token_file), "resolve", {"who": _who(who)}))


def register(root: typer.Typer) -> None:
    """The facilitator's commands join this app from cli/main.py (cli/facilitator.py builds
    on this module, so this module does not import it)."""
    root.add_typer(app, name="incident")
