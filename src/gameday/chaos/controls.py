"""A Chaos Toolkit control: timeline recorder and error-budget safeguard.

Declare it in an experiment (or pass it with ``chaos run --control-file``)::

    "controls": [{"name": "gameday", "provider": {"type": "python",
        "module": "gameday.chaos.controls",
        "arguments": {"max_budget_consumed": 0.5, "slos": ["gateway-availability"]}}}]

Recorder: appends to ``<run>/timeline.jsonl`` (docs/timeline.md) ``experiment_start`` /
``experiment_end``, ``steady_state`` (ok) after each hypothesis (``fault_start`` and
``fault_end`` are written by inject_fault and clear_faults themselves, through
gameday.faults.client, at the moment they act: an activity's "after" control only runs
after its pause), ``fault_start`` as the method kills, pauses or deploys (IMPACT_FUNCS),
``load_surge`` as the method starts load (extra traffic is what triggers an overload, but
it is not a fault), ``load_start`` / ``load_stop`` for start_load / stop_load elsewhere,
and ``activity_start`` / ``activity_end`` for everything else.
Safeguard (only with ``max_budget_consumed``): see gameday.chaos.safeguard; when it trips
it writes ``safeguard_tripped``, clears every fault of the run (like Gremlin's halt:
Chaos Toolkit skips rollbacks after an interruption unless ``--rollback-strategy always``)
and raises InterruptExecution. Arguments: run, record (default true),
max_budget_consumed, slos, since, interval, halt_now (default true: interrupt even in the
middle of an activity), clear_faults_on_trip (default true).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from chaoslib.exceptions import InterruptExecution

from gameday.timeline import append_event

log = logging.getLogger("gameday.chaos")

WHO = "chaos"
FAULT_FUNCS = {"inject_fault": "fault_start", "clear_faults": "fault_end"}
# Actions that break something when an experiment's method calls them: their impact starts
# when they run (recorded before them: an activity's "after" control waits for its pause).
IMPACT_FUNCS = {"deploy_model_version", "kill_service", "pause_service"}
# Load the method adds: recorded as it starts, as load (never as a fault)
SURGE_FUNC = "start_load"
LOAD_FUNCS = {"start_load": "load_start", "stop_load": "load_stop"}
_state: dict = {"run_path": None, "safeguard": None, "phase": "setup", "api": None,
                "clear_on_trip": True, "run": None}

__all__ = ["after_activity_control", "after_experiment_control", "after_hypothesis_control",
           "after_method_control", "before_activity_control", "before_experiment_control",
           "before_method_control",
           "before_rollback_control", "cleanup_control", "configure_control"]


def _record(kind: str, **fields) -> None:
    if _state["run_path"] is None:
        return
    try:
        append_event(_state["run_path"], kind, who=WHO, **fields)
    except OSError as err:
        log.warning("gameday timeline: cannot append to %s: %s", _state["run_path"], err)


def summary(value, limit: int = 200) -> str:
    """``value`` as compact JSON, cut at ``limit`` characters."""
    text = json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def configure_control(configuration=None, secrets=None, settings=None, experiment=None,
                      run: str | None = None, record: bool = True,
                      max_budget_consumed: float | None = None, slos: list[str] | None = None,
                      since: str = "experiment", interval: str | float = "2s",
                      halt_now: bool = True, clear_faults_on_trip: bool = True,
                      **kwargs) -> None:
    from gameday.chaos.context import resolve, seconds

    _state.update(run_path=None, safeguard=None, phase="setup", api=None,
                  clear_on_trip=bool(clear_faults_on_trip), run=None)
    try:
        run_path: Path = resolve(run, configuration).path
    except Exception as err:
        log.warning("gameday control: no run to record into (%s)", err)
        if max_budget_consumed is not None:
            raise InterruptExecution(f"safeguard: cannot watch the error budget: {err}") from None
        return
    _state["run"] = run_path
    if record:
        _state["run_path"] = run_path
    if max_budget_consumed is not None:
        _start_safeguard(run_path, float(max_budget_consumed), slos, since,
                         seconds(interval, "interval"), bool(halt_now))


def _start_safeguard(run_path: Path, limit: float, slos, since: str, interval_s: float,
                     halt_now: bool) -> None:
    from gameday.chaos.safeguard import Safeguard
    from gameday.prometheus.api import PrometheusAPI
    from gameday.runfolder import Run
    from gameday.stack.state import read_state

    try:
        api = PrometheusAPI(read_state(Run(Path(run_path)).state_path).query_url or "")
        guard = Safeguard(api, limit, list(slos) if slos else None, since, interval_s,
                          on_trip=_tripped, halt_now=halt_now)
        guard.begin()
    except Exception as err:
        raise InterruptExecution(f"safeguard: cannot watch the error budget: {err}") from None
    _state.update(api=api, safeguard=guard)
    guard.start()


def _tripped(reason: str, slo: str, consumed: float) -> None:
    guard = _state["safeguard"]
    _record("safeguard_tripped", text=reason, slo_id=slo, budget_consumed=consumed,
            limit=guard.limit if guard else None)
    log.error(reason)
    if _state.get("clear_on_trip") and _state.get("run") is not None:
        _halt_faults(_state["run"])


def _halt_faults(run_path: Path) -> None:
    """Like Gremlin's halt: remove every fault of the run (rollbacks may not run); the
    client writes ``fault_end`` with ``by: safeguard``."""
    from gameday.faults.client import FaultClient

    try:
        FaultClient.for_run(run_path, who=WHO).clear(by="safeguard")
    except Exception as err:
        log.error("safeguard: could not clear the faults: %s", err)


def cleanup_control(**kwargs) -> None:
    guard, api = _state["safeguard"], _state["api"]
    if guard is not None:
        guard.stop()
    if api is not None:
        api.close()
    _state.update(safeguard=None, api=None)


def before_experiment_control(context: dict, **kwargs) -> None:
    _state["phase"] = "before"
    _record("experiment_start", title=context.get("title", ""),
            text=f"experiment started: {context.get('title', '')}")


def after_experiment_control(context: dict, state=None, **kwargs) -> None:
    journal = state or {}
    _state["phase"] = "done"
    if _state["safeguard"] is not None:
        _state["safeguard"].stop()
    _record("experiment_end", title=context.get("title", ""), status=journal.get("status"),
            deviated=journal.get("deviated"),
            text=f"experiment ended: {journal.get('status')}")


def after_hypothesis_control(context: dict, state=None, **kwargs) -> None:
    ok = bool((state or {}).get("steady_state_met"))
    phase = "before" if _state["phase"] == "before" else "after"
    _record("steady_state", ok=ok, phase=phase, title=context.get("title", ""),
            text=f"steady state {'met' if ok else 'NOT met'} ({phase} the method)")


def before_method_control(context=None, **kwargs) -> None:
    _state["phase"] = "method"


def after_method_control(context=None, state=None, **kwargs) -> None:
    _state["phase"] = "after"


def before_rollback_control(context=None, **kwargs) -> None:
    _state["phase"] = "rollback"


def _func(activity: dict) -> str:
    provider = activity.get("provider", {})
    return provider.get("func", "") if provider.get("type") == "python" else ""


def before_activity_control(context: dict, configuration=None, secrets=None, **kwargs) -> None:
    guard = _state["safeguard"]
    if guard is not None and _state["phase"] in ("before", "method"):
        try:
            reason = guard.check()
        except Exception as err:
            log.warning("safeguard: cannot read the error budget: %s", err)
            reason = guard.tripped
        if reason:
            raise InterruptExecution(reason)
    func = _func(context)
    in_method = _state["phase"] == "method"
    if in_method and (func in IMPACT_FUNCS or func == SURGE_FUNC):
        # chaoslib passes configuration only to a control that names it as a parameter
        args = _expanded(context.get("provider", {}).get("arguments", {}) or {},
                         {"configuration": configuration, "secrets": secrets})
        if func == SURGE_FUNC:
            _record("load_surge", users=args.get("users", 10), shape=args.get("profile", "steady"),
                    duration=args.get("duration"), name=context.get("name"),
                    text=f"{context.get('name')}: {func} {summary(args, 120)}")
        else:
            _record("fault_start", service=args.get("service") or _impact_service(func),
                    fault={"type": func, "params": args}, name=context.get("name"),
                    text=f"{context.get('name')}: {func} {summary(args, 120)}")
    if func in FAULT_FUNCS or func in LOAD_FUNCS:
        return  # recorded by the action, or after it with what was started
    _record("activity_start", name=context.get("name"), activity_type=context.get("type"),
            phase=_state["phase"])


def _expanded(args: dict, kwargs: dict) -> dict:
    """The activity's arguments with ``${name}`` configuration values put in, as chaoslib
    does when it runs the activity (the control sees them before that)."""
    try:
        from chaoslib import substitute

        out = substitute(args, kwargs.get("configuration") or {}, kwargs.get("secrets") or {})
        return out if isinstance(out, dict) else args
    except Exception:  # an unexpandable value is shown as written, never a failed drill
        return args


def _impact_service(func: str) -> str:
    return {"deploy_model_version": "classifier"}.get(func, "?")


def after_activity_control(context: dict, state=None, **kwargs) -> None:
    run = state or {}
    func, status, output = _func(context), run.get("status"), run.get("output")
    if func in FAULT_FUNCS:
        return  # the action itself wrote fault_start / fault_end when it happened
    if func == SURGE_FUNC and _state["phase"] == "method" and status == "succeeded":
        return  # load_surge was written as it started (a failure gets its activity_end)
    if status == "succeeded" and func in LOAD_FUNCS:
        out = output if isinstance(output, dict) else {}
        fields = {"users": out.get("users"), "shape": out.get("profile")} if out else {}
        _record(LOAD_FUNCS[func], **fields, output=summary(output),
                text=f"{func} ({context.get('name')})")
        return
    _record("activity_end", name=context.get("name"), activity_type=context.get("type"),
            status=status, output=summary(output), phase=_state["phase"],
            error=summary(run.get("exception", [])[-1:], 300) if status != "succeeded" else None)

