"""Read a Chaos Toolkit journal and decide whether the experiment passed.

``chaos run`` exits 0 when a method action fails and when the baseline steady state is not
met (the method is then skipped), so gameday reads the journal instead::

    outcome = read_journal("run/chaos/x-journal.json")
    outcome.ok, outcome.reasons    # False, ["baseline steady state not met: ..."]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gameday.errors import ValidationError

__all__ = ["JournalOutcome", "judge_journal", "read_journal"]


@dataclass
class JournalOutcome:
    ok: bool
    status: str
    deviated: bool
    title: str = ""
    reasons: list[str] = field(default_factory=list)
    failed_activities: list[str] = field(default_factory=list)
    path: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def __getitem__(self, key: str):
        return getattr(self, key)

    def verdict(self) -> str:
        head = f"{'PASSED' if self.ok else 'FAILED'}: {self.title or self.path} " \
               f"(status {self.status})"
        return "\n".join([head, *(f"  - {r}" for r in self.reasons)])


def _error(run: dict) -> str:
    exc = run.get("exception") or []
    last = exc[-1].strip() if isinstance(exc, list) and exc else str(exc or "").strip()
    return last.splitlines()[-1] if last else "no error message"


def _failed_probes(state: dict | None) -> list[str]:
    if not state:
        return []
    return [f"{p.get('activity', {}).get('name', '?')} (got {p.get('output')!r})"
            for p in state.get("probes", []) if not p.get("tolerance_met", True)]


def judge_journal(journal: dict, path: str = "") -> JournalOutcome:
    """The verdict on a journal already loaded."""
    status = str(journal.get("status", "unknown"))
    deviated = bool(journal.get("deviated"))
    experiment = journal.get("experiment") or {}
    reasons: list[str] = []
    failed: list[str] = []
    if status != "completed":
        reasons.append(f"status is {status!r}, not 'completed'")
    states = journal.get("steady_states") or {}
    before = states.get("before")
    if experiment.get("steady-state-hypothesis") and before is not None \
            and not before.get("steady_state_met"):
        probes = "; ".join(_failed_probes(before)) or "see the journal"
        reasons.append(f"baseline steady state not met (the method did not run): {probes}")
    for run in journal.get("run") or []:
        if run.get("status") == "failed":
            activity = run.get("activity", {})
            name = activity.get("name", "?")
            failed.append(name)
            reasons.append(f"method {activity.get('type', 'activity')} {name!r} failed: "
                           f"{_error(run)}")
    if deviated:
        probes = "; ".join(_failed_probes(states.get("after"))) or "see the journal"
        reasons.append(f"steady state deviated after the method: {probes}")
    for rollback in journal.get("rollbacks") or []:
        if rollback.get("status") == "failed":
            name = rollback.get("activity", {}).get("name", "?")
            failed.append(name)
            reasons.append(f"rollback {name!r} failed: {_error(rollback)}")
    return JournalOutcome(ok=not reasons, status=status, deviated=deviated,
                          title=str(experiment.get("title", "")), reasons=reasons,
                          failed_activities=failed, path=path)


def read_journal(path: str | Path) -> JournalOutcome:
    """Load ``path`` (a chaos journal.json) and judge it; ValidationError if unreadable."""
    path = Path(path)
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such journal (did 'chaos run' start?)") from None
    except (OSError, ValueError) as err:
        raise ValidationError(f"{path}: not a readable JSON journal: {err}") from None
    if not isinstance(journal, dict):
        raise ValidationError(f"{path}: a journal is a JSON object, got "
                              f"{type(journal).__name__}")
    return judge_journal(journal, str(path))
