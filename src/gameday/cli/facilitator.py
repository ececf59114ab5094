"""The facilitator's ``gameday incident`` commands: answer-key, pause, resume, extend, abort,
judge. They use the facilitator's token: ``<run>/facilitator.token`` of the current run, or
``--token-file`` (a copy of it) with ``--url``; a responder's token is refused (403).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .incident import (
    RUN_OPTION,
    TOKEN_FILE_OPTION,
    URL_OPTION,
    WHO_OPTION,
    Target,
    _call,
    _say,
    _who,
)
from .render import make_console


def _target(run_id, url, token_file) -> Target:
    return Target(run_id, url, token_file, facilitator=True)


def answer_key(run_id: str = RUN_OPTION, url: str = URL_OPTION,
               token_file: Path = TOKEN_FILE_OPTION,
               as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")
               ) -> None:
    """Facilitator: the answer key, the hints not yet taken, the fault as it really is."""
    data = _call(_target(run_id, url, token_file), "state")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console = make_console()
    key = data.get("answer_key") or {}
    say = lambda text: console.print(text, highlight=False, markup=False,  # noqa: E731
                                     soft_wrap=True)
    say(f"scenario: {key.get('title')} ({key.get('scenario')})")
    say(f"root cause: {key.get('root_cause')}")
    diagnosis = key.get("diagnosis") or {}
    if diagnosis:
        say(f"diagnosis: {diagnosis.get('component')}: {diagnosis.get('failure_mode')}")
    for m in key.get("mitigations") or []:
        say(f"recommended lever: {m.get('lever')} {json.dumps(m.get('arguments') or {})}")
    for i, hint in enumerate(data.get("hints_remaining") or [], 1):
        say(f"hint not taken {i}: {hint}")
    fault = data.get("fault") or {}
    for f in fault.get("active") or []:
        say(f"fault on {f.get('process')}: {f.get('type')} {json.dumps(f.get('params'))} "
            f"route {f.get('route')}, {f.get('remaining_ttl_s')} s left")
    if not fault.get("active"):
        say("no fault active now" + (f" ({fault['error']})" if fault.get("error") else ""))
    say(f"phase: {data.get('phase')}" + (" (paused)" if data.get("paused") else ""))


def pause(reason: str = typer.Option("", "--reason", help="Why (in the timeline)."),
          run_id: str = RUN_OPTION, url: str = URL_OPTION,
          token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Facilitator: pause the drill (its time limit and the fault's timers stop)."""
    _say(_call(_target(run_id, url, token_file), "pause",
               {"reason": reason, "who": _who(who)}))


def resume(run_id: str = RUN_OPTION, url: str = URL_OPTION,
           token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Facilitator: resume a paused drill."""
    _say(_call(_target(run_id, url, token_file), "resume", {"who": _who(who)}))


def extend(seconds: float = typer.Argument(..., help="How many seconds more (1 to 1800)."),
           run_id: str = RUN_OPTION, url: str = URL_OPTION,
           token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Facilitator: give the drill more time."""
    _say(_call(_target(run_id, url, token_file), "extend",
               {"seconds": seconds, "who": _who(who)}))


def abort(reason: str = typer.Option(..., "--reason", help="Why (in the timeline)."),
          run_id: str = RUN_OPTION, url: str = URL_OPTION,
          token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Facilitator: end the drill now (it still reveals and writes its report)."""
    _say(_call(_target(run_id, url, token_file), "abort",
               {"reason": reason, "who": _who(who)}))


def judge(right: bool = typer.Option(..., "--right/--wrong", help="The facilitator's "
                                     "judgement of the last diagnosis."),
          reason: str = typer.Option(..., "--reason", help="Why the judgement changes."),
          run_id: str = RUN_OPTION, url: str = URL_OPTION,
          token_file: Path = TOKEN_FILE_OPTION, who: str = WHO_OPTION) -> None:
    """Facilitator: override the judgement of the last diagnosis, with a reason."""
    _say(_call(_target(run_id, url, token_file), "judge",
               {"correct": right, "reason": reason, "who": _who(who)}))


def add_commands(app: typer.Typer) -> None:
    for name, fn in (("answer-key", answer_key), ("pause", pause), ("resume", resume),
                     ("extend", extend), ("abort", abort), ("judge", judge)):
        app.command(name)(fn)
