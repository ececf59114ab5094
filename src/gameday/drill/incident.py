"""The incident as the responders see and change it: ack, notes, levers, roles, diagnosis.

Both the interactive API (``gameday incident ...``) and the automatic responder go through
``Incident.act``; every action becomes a timeline event with who did it.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable

from gameday.drill.judge import judge_diagnosis
from gameday.drill.scenario import Scenario

# Levers a responder may pull; breaking things (inject_fault, pause, load) is the chaos
# side's job, not the responder's.
NOT_LEVERS = {"inject_fault", "pause_service", "kill_service", "start_load", "stop_load"}
ROLES = ("commander", "ops", "comms", "scribe", "expert")


def levers() -> dict[str, Callable]:
    from gameday.chaos import actions

    return {name: getattr(actions, name) for name in actions.__all__ if name not in NOT_LEVERS}


def lever_help() -> list[dict]:
    out = []
    for name, func in levers().items():
        params = [p for p in inspect.signature(func).parameters
                  if p not in ("run", "configuration", "secrets")]
        doc = (inspect.getdoc(func) or "").splitlines()
        out.append({"lever": name, "arguments": params, "help": doc[0] if doc else ""})
    return out


class Incident:
    def __init__(self, run_path: str, scenario: Scenario, emit: Callable[..., dict],
                 hidden: bool = False) -> None:
        self.run_path = run_path
        self.scenario = scenario
        self.emit = emit
        self.hidden = hidden
        self.acked_at: float | None = None
        self.resolved_at: float | None = None
        self.mitigations: list[dict] = []
        self.diagnoses: list[dict] = []
        self.hints_shown = 0
        self.roles: dict[str, str] = {}
        self.pages: list[dict] = []
        self._lock = threading.Lock()

    # -- the API ------------------------------------------------------------------------
    def act(self, action: str, body: dict) -> tuple[int, dict]:
        who = str(body.get("who") or "responder")[:64]
        try:
            with self._lock:
                handler = getattr(self, f"_{action}")
                return handler(body, who)
        except (TypeError, ValueError, KeyError) as err:
            return 400, {"ok": False, "message": f"{action}: {err}"}

    def _status(self, body: dict, who: str) -> tuple[int, dict]:
        return 200, {"ok": True, "scenario": self.scenario.public(self.hidden),
                     "pages": self.pages, "acked_at": self.acked_at,
                     "resolved_at": self.resolved_at, "mitigations": self.mitigations,
                     "roles": self.roles,
                     "hints": self.scenario.hints[:self.hints_shown],
                     "hints_left": len(self.scenario.hints) - self.hints_shown,
                     "levers": lever_help()}

    def _ack(self, body: dict, who: str) -> tuple[int, dict]:
        if self.acked_at is not None:
            return 200, {"ok": True, "message": "already acknowledged"}
        if not self.pages:
            return 409, {"ok": False, "message": "nothing to acknowledge yet: no page"}
        self.acked_at = time.time()
        alert = body.get("alert") or self.pages[-1].get("alert")
        self.emit("ack", who=who, alert=alert, text=f"{who} acknowledged {alert}")
        return 200, {"ok": True, "message": f"acknowledged {alert}"}

    def _note(self, body: dict, who: str) -> tuple[int, dict]:
        text = str(body["text"]).strip()
        if not text:
            raise ValueError("empty note")
        self.emit("note", who=who, text=text[:2000])
        return 200, {"ok": True, "message": "noted"}

    def _escalate(self, body: dict, who: str) -> tuple[int, dict]:
        to = str(body.get("to") or "incident commander")
        self.emit("escalate", who=who, to=to, text=f"{who} escalated to {to}")
        return 200, {"ok": True, "message": f"escalated to {to}"}

    def _role(self, body: dict, who: str) -> tuple[int, dict]:
        role = str(body["role"])
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        self.roles[role] = who
        self.emit("role", who=who, role=role, text=f"{who} is {role}")
        return 200, {"ok": True, "message": f"{who} is {role}"}

    def _hint(self, body: dict, who: str) -> tuple[int, dict]:
        if self.hints_shown >= len(self.scenario.hints):
            return 200, {"ok": True, "message": "no more hints", "hint": None}
        hint = self.scenario.hints[self.hints_shown]
        self.hints_shown += 1
        self.emit("hint", who=who, text=hint, n=self.hints_shown)
        return 200, {"ok": True, "hint": hint, "n": self.hints_shown}

    def _diagnose(self, body: dict, who: str) -> tuple[int, dict]:
        text = str(body["text"]).strip()
        if not text:
            raise ValueError("empty diagnosis")
        verdict = judge_diagnosis(text, self.scenario.root_cause, self.scenario.keywords)
        entry = {"who": who, "text": text, **verdict, "ts": time.time()}
        self.diagnoses.append(entry)
        self.emit("diagnosis", who=who, text=text[:2000], correct=verdict["correct"])
        return 200, {"ok": True, "message": "diagnosis recorded; judged at the debrief"}

    def _mitigate(self, body: dict, who: str) -> tuple[int, dict]:
        lever = str(body["lever"])
        args = body.get("arguments") or {}
        if not isinstance(args, dict):
            raise ValueError(f"arguments must be an object, got {args!r}")
        known = levers()
        if lever not in known:
            raise ValueError(f"unknown lever {lever!r}; levers: {', '.join(known)}")
        started = time.time()
        try:
            output = known[lever](**args, run=self.run_path)
            ok, message = True, f"{lever} done"
        except TypeError as err:
            raise ValueError(f"{lever}: {err}") from None
        except Exception as err:  # a failed lever is part of the drill, not a crash
            output, ok, message = None, False, f"{lever} failed: {err}"
        entry = {"lever": lever, "args": args, "ok": ok, "who": who, "ts": started,
                 "took_s": round(time.time() - started, 3)}
        self.mitigations.append(entry)
        self.emit("mitigation", who=who, lever=lever, args=args, ok=ok, text=message,
                  output=_short(output))
        return (200 if ok else 502), {"ok": ok, "message": message, "output": _short(output)}

    def _resolve(self, body: dict, who: str) -> tuple[int, dict]:
        if self.resolved_at is None:
            self.resolved_at = time.time()
            self.emit("resolve", who=who, text=f"{who} declared the incident over")
        return 200, {"ok": True, "message": "incident resolved; the drill wraps up"}

    # -- the controller's side ------------------------------------------------------------
    def paged(self, fields: dict) -> None:
        with self._lock:
            self.pages.append(fields)


def _short(output, limit: int = 500):
    text = repr(output)
    return output if len(text) <= limit else text[:limit] + "..."
