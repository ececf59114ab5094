"""The incident as the responders see and change it: ack, notes, levers, roles, diagnosis.

Both the interactive API (``gameday incident ...``) and the automatic responder go through
``Incident.act``; every action becomes a timeline event with who did it (``who``: the name
given, a per-person token's name, else the role) and the role they acted in (``role``:
facilitator or responder; the incident role someone takes is ``takes``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from gameday.drill.judge import diagnosis_choices, judge_choice, pick
from gameday.drill.levers import lever_help, levers
from gameday.drill.scenario import Scenario

ROLES = ("commander", "ops", "comms", "scribe", "expert")


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
        # set by the drill when the steady-state hypothesis holds again after the impact;
        # resolving is refused before that
        self.recovered_at: float | None = None
        self._choices: dict | None = None
        self._lock = threading.Lock()

    def choices(self) -> dict:
        """The diagnosis choices this drill offers (the same for the whole drill)."""
        if self._choices is None:
            self._choices = diagnosis_choices(self.scenario.diagnosis, _catalog(self.scenario),
                                              seed=Path(self.run_path).name)
        return self._choices

    # -- the API ------------------------------------------------------------------------
    def act(self, action: str, body: dict, role: str = "responder",
            person: str | None = None) -> tuple[int, dict]:
        """One action by someone in ``role`` (the API checks the role may do it: judging is
        the facilitator's); ``person`` is the name of a per-person token, which wins over
        the name the body gives."""
        who = str(person or body.get("who") or role)[:64]
        try:
            with self._lock:  # one action at a time: its events carry its role
                emit = self.emit
                self.emit = lambda kind, **fields: emit(kind, **{**fields, "role": role})
                try:
                    return getattr(self, f"_{action}")(body, who)
                finally:
                    self.emit = emit
        except (TypeError, ValueError, KeyError) as err:
            return 400, {"ok": False, "message": f"{action}: {err}"}

    def _status(self, body: dict, who: str) -> tuple[int, dict]:
        return 200, {"ok": True, "scenario": self.scenario.public(self.hidden),
                     "pages": self.pages, "acked_at": self.acked_at,
                     "resolved_at": self.resolved_at, "mitigations": self.mitigations,
                     "roles": self.roles,
                     "hints": self.scenario.hints[:self.hints_shown],
                     "hints_left": len(self.scenario.hints) - self.hints_shown,
                     "burn_now": _burn_now(self.run_path),
                     "recovered_at": self.recovered_at,
                     "diagnosis_choices": self.choices(),
                     "levers": lever_help()}

    def _ack(self, body: dict, who: str) -> tuple[int, dict]:
        if self.acked_at is not None:
            return 200, {"ok": True, "message": "already acknowledged"}
        if not self.pages:
            return 409, {"ok": False, "message": "nothing to acknowledge yet: no page"}
        asked = body.get("alert")
        if asked is not None:
            page = next((p for p in self.pages if p.get("alert") == asked), None)
            if page is None:
                have = ", ".join(sorted({str(p.get("alert")) for p in self.pages}))
                return 409, {"ok": False, "message": f"no page for {asked!r}; paged: {have}"}
        else:
            page = self.pages[0]  # the first page, the one that woke the responder
        self.acked_at = time.time()
        alert = page.get("alert")
        self.emit("ack", who=who, alert=alert, severity=page.get("severity"),
                  text=f"{who} acknowledged {alert}")
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
        self.emit("role", who=who, takes=role, text=f"{who} is {role}")
        return 200, {"ok": True, "message": f"{who} is {role}"}

    def _hint(self, body: dict, who: str) -> tuple[int, dict]:
        if self.hints_shown >= len(self.scenario.hints):
            return 200, {"ok": True, "message": "no more hints", "hint": None}
        hint = self.scenario.hints[self.hints_shown]
        self.hints_shown += 1
        self.emit("hint", who=who, text=hint, n=self.hints_shown)
        return 200, {"ok": True, "hint": hint, "n": self.hints_shown}

    def _diagnose(self, body: dict, who: str) -> tuple[int, dict]:
        """A component and a failure mode picked from ``choices()`` (judged exactly), plus
        free text for the debrief (never judged)."""
        text = str(body.get("text") or "").strip()
        choices = self.choices()
        given = body.get("component") is not None or body.get("failure_mode") is not None
        if not given and not text:
            raise ValueError("pick a component and a failure mode (see 'choices' in the "
                             "status), and say why in text if you like")
        if given:
            if body.get("component") is None or body.get("failure_mode") is None:
                raise ValueError("a diagnosis names both a component and a failure mode")
            component = pick(body["component"], choices["components"], "component")
            mode = pick(body["failure_mode"], choices["failure_modes"], "failure_mode")
            verdict = judge_choice(component, mode, self.scenario.diagnosis)
        else:
            component = mode = None
            verdict = {"correct": None, "why": "free text only: not judged (pick a component "
                                               "and a failure mode to be judged)"}
        entry = {"who": who, "text": text, "component": component, "failure_mode": mode,
                 **verdict, "ts": time.time()}
        self.diagnoses.append(entry)
        stated = f"{component}: {mode}" if given else text
        self.emit("diagnosis", who=who, text=text[:2000], component=component,
                  failure_mode=mode, stated=stated[:2000], correct=verdict["correct"])
        return 200, {"ok": True, "message": "diagnosis recorded; judged at the debrief"
                     if given else verdict["why"]}

    def _judge(self, body: dict, who: str) -> tuple[int, dict]:
        """The facilitator overrides the judgement of the last diagnosis, with a reason."""
        if not self.diagnoses:
            return 409, {"ok": False, "message": "no diagnosis to judge yet"}
        correct = body.get("correct")
        if not isinstance(correct, bool):
            raise ValueError(f"'correct' must be true or false, got {correct!r}")
        reason = str(body.get("reason") or "").strip()
        if not reason:
            raise ValueError("an override needs a reason")
        self.diagnoses[-1]["correct"] = correct
        self.emit("diagnosis_judged", who=who, correct=correct, text=reason[:2000])
        return 200, {"ok": True, "message": f"diagnosis judged {'right' if correct else 'wrong'}"
                                            f" by {who}"}

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
        if self.resolved_at is not None:
            return 200, {"ok": True, "message": "already resolved; the drill wraps up"}
        if self.recovered_at is None:
            self.emit("resolve_refused", who=who,
                      text=f"{who} tried to resolve before the steady state was met again")
            return 409, {"ok": False, "message": "not resolved: the scenario's steady-state "
                         "hypothesis does not hold yet (the drill checks it every few "
                         "seconds); keep mitigating, watch the SLO burn, and resolve once "
                         "it has recovered"}
        self.resolved_at = time.time()
        self.emit("resolve", who=who, text=f"{who} declared the incident over")
        return 200, {"ok": True, "message": "incident resolved; the drill wraps up"}

    # -- the controller's side ------------------------------------------------------------
    def paged(self, fields: dict) -> None:
        with self._lock:
            self.pages.append(fields)

    def answer_key(self) -> dict:
        """What the facilitator knows and responders must not: the scenario, its root cause,
        the diagnosis it expects, the recommended levers, the hints not yet taken, and how
        the diagnoses so far were judged."""
        with self._lock:
            key = dict(self.scenario.answer_key())
            return {"answer_key": {"scenario": self.scenario.name,
                                   "title": self.scenario.title, **key},
                    "hints_remaining": list(self.scenario.hints[self.hints_shown:]),
                    "diagnoses": list(self.diagnoses)}


def _catalog(scenario: Scenario) -> list[dict]:
    """Every known scenario's diagnosis (distractors): its own folder's, and the shipped
    scenarios' when that folder holds few."""
    from gameday.drill.scenario import default_experiments_dir, list_scenarios

    found: dict[tuple, dict] = {}
    for folder in (scenario.path.parent, default_experiments_dir()):
        try:
            for other in list_scenarios(folder):
                if other.diagnosis:
                    found[(other.diagnosis["component"], other.diagnosis["failure_mode"])] = \
                        other.diagnosis
        except Exception:  # a broken neighbour must not break the drill
            continue
        if len(found) >= 6:
            break
    return list(found.values())


def _burn_now(run_path: str) -> dict:
    """Each SLO's burn over its shortest window now, from the live status (slo-status.json)."""
    from gameday.errors import GamedayError
    from gameday.runfolder import Run, read_json

    try:
        body = read_json(Run(Path(run_path)).slo_status) or {}
    except GamedayError:
        return {}
    out = {}
    for s in body.get("slos") or []:
        burns = s.get("burn_by_window") or {}
        first = next(iter(burns.items()), None)
        if first and isinstance(first[1], int | float):
            out[s.get("slo_id")] = {"window": first[0], "burn": first[1]}
    return out


def _short(output, limit: int = 500):
    text = repr(output)
    return output if len(text) <= limit else text[:limit] + "..."
