"""``gameday incident ...``: respond to a running drill from another terminal.

The drill controller listens on loopback; its URL is in ``<run>/drill.json`` and the run's
token authenticates every call.
"""

from __future__ import annotations

import json

import httpx
import typer

from gameday.errors import NotFoundError, StackError, ValidationError
from gameday.text import validate_text

from .render import make_console

app = typer.Typer(help="Respond to the running drill: ack, note, mitigate, resolve...",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
RUN_OPTION = typer.Option(None, "--run", help="Run id (default: the current run).")
WHO_OPTION = typer.Option(None, "--who", help="Your name or role (default: $USER).")


def _who(who: str | None) -> str:
    import getpass

    if who:
        return who
    try:
        return getpass.getuser()
    except Exception:
        return "responder"


def _controller(run_id: str | None) -> tuple[str, str]:
    from gameday.stack.runs import resolve_run

    run = resolve_run(run_id)
    path = run.path / "drill.json"
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
    return url, run.token()


def _call(run_id: str | None, action: str, body: dict | None = None) -> dict:
    # arguments come from the terminal: undecodable bytes arrive as lone surrogates
    validate_text(body or {}, action)
    url, token = _controller(run_id)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        if action == "status":
            resp = httpx.get(f"{url}/incident", headers=headers, timeout=10)
        else:
            resp = httpx.post(f"{url}/incident/{action}", json=body or {}, headers=headers,
                              timeout=60)
    except httpx.HTTPError as err:
        raise StackError(f"drill controller at {url} not reachable ({err}); is the drill "
                         f"still running?") from None
    try:
        data = resp.json()
    except ValueError:
        raise StackError(f"drill controller answered {resp.status_code}, not JSON") from None
    if resp.status_code == 400:
        raise ValidationError(data.get("message", "bad request"))
    if resp.status_code >= 300:
        raise StackError(data.get("message", f"HTTP {resp.status_code}"))
    return data


def _say(data: dict) -> None:
    typer.echo(data.get("message") or json.dumps(data))


@app.command("status")
def status(run_id: str = RUN_OPTION,
           as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Pages so far, acknowledgement, mitigations, hints shown, levers available."""
    data = _call(run_id, "status")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console = make_console()
    sc = data["scenario"]
    console.print(f"[bold]{sc['title']}[/]", highlight=False)
    for p in data["pages"]:
        console.print(f"PAGE {p.get('alert')} [{p.get('severity')}] slo {p.get('slo_id')} "
                      f"burn {p.get('burn_rate')}x runbook {p.get('runbook_url')}",
                      highlight=False, markup=False)
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


@app.command("ack")
def ack(run_id: str = RUN_OPTION, who: str = WHO_OPTION) -> None:
    """Acknowledge the page."""
    _say(_call(run_id, "ack", {"who": _who(who)}))


@app.command("note")
def note(text: str = typer.Argument(..., help="What you saw or did."),
         run_id: str = RUN_OPTION, who: str = WHO_OPTION) -> None:
    """Add a note to the timeline (the scribe's log)."""
    _say(_call(run_id, "note", {"text": text, "who": _who(who)}))


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
             run_id: str = RUN_OPTION, who: str = WHO_OPTION) -> None:
    """Pull a lever (see 'gameday incident status' for the list)."""
    _say(_call(run_id, "mitigate", {"lever": lever, "arguments": _parse_args(arg or []),
                                    "who": _who(who)}))


@app.command("escalate")
def escalate(to: str = typer.Option("incident commander", "--to", help="Whom to pull in."),
             run_id: str = RUN_OPTION, who: str = WHO_OPTION) -> None:
    """Escalate: pull in someone else."""
    _say(_call(run_id, "escalate", {"to": to, "who": _who(who)}))


@app.command("role")
def role(name: str = typer.Argument(..., help="commander, ops, comms, scribe or expert."),
         run_id: str = RUN_OPTION, who: str = WHO_OPTION) -> None:
    """Take a role in the incident."""
    _say(_call(run_id, "role", {"role": name, "who": _who(who)}))


@app.command("hint")
def hint(run_id: str = RUN_OPTION, who: str = WHO_OPTION) -> None:
    """Show the next hint (counted in the score)."""
    data = _call(run_id, "hint", {"who": _who(who)})
    typer.echo(data.get("hint") or data.get("message"))


@app.command("diagnose")
def diagnose(text: str = typer.Argument(..., help="The root cause you suspect."),
             run_id: str = RUN_OPTION, who: str = WHO_OPTION) -> None:
    """State the suspected root cause (judged against the answer key at the end)."""
    _say(_call(run_id, "diagnose", {"text": text, "who": _who(who)}))


@app.command("resolve")
def resolve(run_id: str = RUN_OPTION, who: str = WHO_OPTION) -> None:
    """Declare the incident over; the drill wraps up and writes its report."""
    _say(_call(run_id, "resolve", {"who": _who(who)}))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="incident")
