"""The facilitator's side of a drill: pause, resume, extend, abort, judge, and the state
responders never see (the answer key, hints not yet taken, the fault as it really is).

``Facilitation.handle`` answers the API's ``/facilitator/*`` (gameday.drill.api checks the
role first); every action is a timeline event with ``who`` and ``role: facilitator``.

Pausing stops the drill's clocks: its time limit and its detection and recovery limits move
by the time paused (``shift_s``), responders' actions other than notes wait (409), and at
resume the faults still active get their TTL back for the time paused (each is re-added with
its remaining time plus the pause, then the old one removed), so nothing the scenario broke
heals on its own during a pause. Extending adds to the same shift. Aborting ends the drill
now: teardown, report and reveal as after any end.
"""

from __future__ import annotations

import threading
import time

MAX_EXTEND_S = 1800.0  # one extension at most; the drill's headroom (HEADROOM_S) in total
HEADROOM_S = 1800.0  # how long the load and the experiment's hold outlast max_duration
MAX_FAULT_TTL_S = 3600.0  # gameday.faults.model's bound
FAULT_STATE_TTL_S = 2.0  # how long a reading of the services' faults is reused


class Facilitation:
    def __init__(self, drill) -> None:
        self.drill = drill  # gameday.drill.controller.Drill
        self.paused_at: float | None = None  # monotonic
        self.paused_wall: float | None = None
        self.paused_total_s = 0.0
        self.extended_s = 0.0
        self.aborted: str | None = None
        self._lock = threading.Lock()
        self._fault_cache: tuple[float, dict] | None = None  # (monotonic, state)

    # -- the clocks the controller reads -------------------------------------------------
    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def shift_s(self, now: float | None = None) -> float:
        """How far the drill's limits have moved: time paused (so far) plus extensions."""
        now = time.monotonic() if now is None else now
        running = (now - self.paused_at) if self.paused_at is not None else 0.0
        return self.paused_total_s + running + self.extended_s

    def refusal(self, action: str) -> tuple[int, dict] | None:
        """While paused, responders' actions other than notes wait (409)."""
        if self.paused and action not in ("status", "note"):
            return 409, {"ok": False, "message": f"{action}: the facilitator paused the "
                                                 f"drill; notes only until it resumes"}
        return None

    # -- the API ----------------------------------------------------------------------------
    def handle(self, action: str, body: dict, caller) -> tuple[int, dict]:
        who = str(caller.name or body.get("who") or caller.role)[:64]
        if action == "state":
            return 200, {"ok": True, **self.state()}
        if action == "judge":
            if self.drill.incident is None:
                return 503, {"ok": False, "message": "the drill is still starting"}
            return self.drill.incident.act("judge", body, role=caller.role, person=caller.name)
        try:
            with self._lock:
                return getattr(self, f"_{action}")(body, who)
        except (TypeError, ValueError, KeyError) as err:
            return 400, {"ok": False, "message": f"{action}: {err}"}

    def _pause(self, body: dict, who: str) -> tuple[int, dict]:
        if self.paused:
            return 409, {"ok": False, "message": "already paused"}
        if self.drill.phase in ("teardown",) or self.drill.stop_event.is_set():
            return 409, {"ok": False, "message": "the drill is ending"}
        self.paused_at, self.paused_wall = time.monotonic(), time.time()
        reason = str(body.get("reason") or "").strip()[:500]
        self.drill.emit("pause", who=who, role="facilitator",
                        text=f"{who} paused the drill: its time limit and the fault's "
                             f"timers stop" + (f" ({reason})" if reason else ""))
        return 200, {"ok": True, "message": "paused; resume with /facilitator/resume"}

    def _resume(self, body: dict, who: str) -> tuple[int, dict]:
        if not self.paused:
            return 409, {"ok": False, "message": "not paused"}
        paused_s = time.monotonic() - self.paused_at
        self.paused_total_s += paused_s
        self.paused_at = self.paused_wall = None
        moved = self._extend_faults(paused_s)
        self._fault_cache = None  # new ids, new TTLs
        self.drill.emit("resume", who=who, role="facilitator", paused_s=round(paused_s, 1),
                        text=f"{who} resumed the drill after {paused_s:.0f} s; its limits "
                             f"and {moved} active fault(s) moved by as much")
        return 200, {"ok": True, "message": f"resumed after {paused_s:.0f} s",
                     "paused_s": round(paused_s, 1)}

    def _extend(self, body: dict, who: str) -> tuple[int, dict]:
        seconds = body.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or \
                not 0 < seconds <= MAX_EXTEND_S:
            raise ValueError(f"'seconds' must be a number from 1 to {MAX_EXTEND_S:g}, "
                             f"got {seconds!r}")
        if self.extended_s + seconds > HEADROOM_S:
            return 409, {"ok": False, "message": f"extensions add up to {HEADROOM_S:g} s at "
                         f"most; {HEADROOM_S - self.extended_s:g} s left"}
        self.extended_s += float(seconds)
        self.drill.emit("extend", who=who, role="facilitator", seconds=seconds,
                        text=f"{who} gave the drill {seconds:g} s more")
        return 200, {"ok": True, "message": f"extended by {seconds:g} s",
                     "extended_s": self.extended_s}

    def _abort(self, body: dict, who: str) -> tuple[int, dict]:
        reason = str(body.get("reason") or "").strip()[:500]
        if not reason:
            raise ValueError("an abort needs a reason")
        if self.aborted is not None:
            return 200, {"ok": True, "message": "already aborting"}
        self.aborted = reason
        self.drill.outcome["aborted"] = {"by": who, "reason": reason}
        self.drill.emit("abort", who=who, role="facilitator",
                        text=f"{who} aborted the drill: {reason}")
        self.drill.stop_event.set()
        return 200, {"ok": True, "message": "aborting: the drill tears down and writes its "
                                            "report"}

    # -- what only the facilitator sees -----------------------------------------------------
    def state(self) -> dict:
        drill = self.drill
        key = drill.incident.answer_key() if drill.incident else {}
        limit = drill.opt.max_duration_s
        started = (drill.times or {}).get("experiment_start")
        return {**key, "phase": drill.phase, "paused": self.paused,
                "paused_since": self.paused_wall, "paused_total_s": round(
                    self.shift_s() - self.extended_s, 1), "extended_s": self.extended_s,
                "aborted": self.aborted,
                "ends_at": (started + limit + self.shift_s()) if started else None,
                "levers_taken": list(drill.incident.mitigations) if drill.incident else [],
                "fault": self._fault_state()}

    def _fault_state(self) -> dict:
        """The faults the services hold now, per process, with their remaining TTL; read at
        most every FAULT_STATE_TTL_S (a console asks every second), a process that does not
        answer listed under ``unreachable``."""
        now = time.monotonic()
        if self._fault_cache is not None and now - self._fault_cache[0] < FAULT_STATE_TTL_S:
            return self._fault_cache[1]
        try:
            procs = self._procs()
            if procs is None:
                return {"active": [], "error": "no stack yet"}
            from gameday.errors import GamedayError
            from gameday.stack import admin

            token, wall, active, unreachable = self._token(), time.time(), [], []
            for proc in procs:
                try:
                    listed = admin.list_faults([proc], token)
                except GamedayError as err:  # down, restarting, paused: say so, go on
                    unreachable.append({"process": proc.id, "error": str(err)[:200]})
                    continue
                for pid, faults in listed:
                    active += [{"process": pid, "id": f.get("id"), "type": f.get("type"),
                                "route": f.get("route"), "params": f.get("params"),
                                "probability": f.get("probability"),
                                "remaining_ttl_s": round(max(0.0, float(
                                    f.get("expires_at") or wall) - wall), 1)}
                               for f in faults]
            state = {"active": active, "unreachable": unreachable,
                     "experiment_running": drill_experiment_running(self.drill)}
        except Exception as err:  # the state must answer even when the stack does not
            state = {"active": [], "error": f"{type(err).__name__}: {err}"[:300]}
        self._fault_cache = (now, state)
        return state

    def _procs(self):
        from gameday.runfolder import Run
        from gameday.stack.state import read_state

        if self.drill.run_path is None:
            return None
        return list(read_state(Run(self.drill.run_path).state_path).processes)

    def _token(self) -> str:
        from gameday.runfolder import Run

        return Run(self.drill.run_path).token()

    def _extend_faults(self, seconds: float) -> int:
        """Give every active fault ``seconds`` more (re-added with its remaining time plus
        ``seconds``, then the old one removed); how many moved. Done with the admin token,
        outside the timeline: a wheel's fault stays sealed."""
        try:
            procs = self._procs()
            if not procs:
                return 0
            from gameday.stack import admin

            token, now, moved = self._token(), time.time(), 0
            by_id = {p.id: p for p in procs}
            for pid, faults in admin.list_faults(procs, token):
                for f in faults:
                    remaining = float(f.get("expires_at") or now) - now
                    if remaining <= 0 or pid not in by_id:
                        continue
                    body = {k: f[k] for k in ("type", "params", "route", "probability")
                            if k in f}
                    body["ttl_s"] = min(MAX_FAULT_TTL_S, remaining + seconds)
                    admin.add_fault([by_id[pid]], token, body)
                    admin.remove_fault([by_id[pid]], token, f["id"])
                    moved += 1
            return moved
        except Exception as err:  # a fault that ends early is a note, not a crash
            if self.drill.view is not None:
                self.drill.view.warn(f"could not extend the faults' TTL: {err}")
            return 0


def drill_experiment_running(drill) -> bool:
    return drill.experiment is not None and drill.experiment.running()
