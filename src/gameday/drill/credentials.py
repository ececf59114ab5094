"""A drill's credentials: a facilitator token and a responder token (and one per person),
new for every drill, files of mode 0600 in the run folder (names: gameday.runfolder).

They are not the services' admin token (``<run>/token``): a responder's token reaches the
incident API only, never the fault admin API of the services, and never the answer key.
The admin token is accepted by the incident API only where a machine needs it: alerts
delivered by Alertmanager (its credentials file) and /metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gameday.drill.api import FACILITATOR, RESPONDER, SYSTEM, Caller
from gameday.errors import ValidationError
from gameday.runfolder import PERSON_NAME, Run, read_secret, write_secret


def validate_responders(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``--responders alice,bob``: distinct names of letters, digits, '-' and '_'."""
    out: list[str] = []
    for name in names:
        name = name.strip()
        if not PERSON_NAME.fullmatch(name):
            raise ValidationError(f"--responders: a name is letters, digits, '-' or '_' (at "
                                  f"most 32), got {name!r}")
        if name in out:
            raise ValidationError(f"--responders: {name!r} is given twice")
        if name in (FACILITATOR, RESPONDER):
            raise ValidationError(f"--responders: {name!r} is a role, not a person's name")
        out.append(name)
    return tuple(out)


@dataclass
class DrillCredentials:
    """The token files of one drill, and who each token is."""

    facilitator: Path
    responder: Path
    people: dict[str, Path] = field(default_factory=dict)
    callers: dict[str, Caller] = field(default_factory=dict)  # token -> caller

    def files(self) -> dict:
        """What drill.json says about them: file names only, never a token."""
        return {"facilitator_token_file": self.facilitator.name,
                "responder_token_file": self.responder.name,
                "responder_token_files": {n: p.name for n, p in self.people.items()}}


def issue_credentials(run: Run, responders: tuple[str, ...] = ()) -> DrillCredentials:
    """New tokens for this drill (any of an earlier drill on the same run are replaced)."""
    creds = DrillCredentials(run.facilitator_token_path, run.responder_token_path)
    creds.callers[write_secret(creds.facilitator)] = Caller(FACILITATOR)
    creds.callers[write_secret(creds.responder)] = Caller(RESPONDER)
    for name in validate_responders(responders):
        path = run.person_token_path(name)
        creds.people[name] = path
        creds.callers[write_secret(path)] = Caller(RESPONDER, name)
    admin = read_secret(run.token_path)
    if admin:
        creds.callers[admin] = Caller(SYSTEM)
    return creds
