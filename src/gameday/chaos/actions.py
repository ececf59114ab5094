"""Chaos Toolkit actions on a running gameday stack (``gameday up``).

Every function takes keyword arguments, then ``run`` (run id or run folder; default: see
gameday.chaos.context), then ``configuration`` and ``secrets``; returns JSON-serialisable
values and raises ``chaoslib.exceptions.ActivityFailed`` with the reason on failure.
"""

from __future__ import annotations

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday.chaos.context import activity, resolve, running_stack, seconds

__all__ = ["clear_faults", "deploy_model_version", "eject_replica", "inject_fault",
           "kill_service", "pause_service", "restart_service", "resume_service",
           "rollback_model", "scale_service", "set_gateway_policy", "start_load", "stop_load",
           "uneject_replica"]

MAX_TTL_S = 3600.0


def _admin(procs, token: str, method: str, path: str, body=None) -> list[dict]:
    from gameday.stack.admin import _call  # the admin client's error wording, reused

    return [{"process": p.id, **(_call(p, token, method, path, json=body).json() or {})}
            for p in procs]


def _timeline(run, kind: str, **fields) -> None:
    """Append to the run's timeline; never fails the action for it."""
    from gameday.timeline import append_event

    try:
        append_event(run.path, kind, who="chaos", **fields)
    except OSError:
        pass


def fault_fields(args: dict, output) -> dict:
    """``service`` and ``fault`` of a fault_start event, from the faults as stored."""
    stored = output[0] if isinstance(output, list) and output and isinstance(output[0], dict) \
        else {}
    fault = {"type": stored.get("type", args.get("fault_type")),
             "params": stored.get("params", args.get("params") or {}),
             "route": stored.get("route", args.get("route", "/v1/*")),
             "probability": stored.get("probability", args.get("probability", 1.0)),
             "ttl_s": stored.get("ttl_s", args.get("ttl"))}
    service = args.get("service")
    processes = [f.get("process") for f in output] if isinstance(output, list) else []
    ids = [f.get("id") for f in output] if isinstance(output, list) else []
    return {"service": service, "fault": fault, "processes": processes, "fault_ids": ids,
            "text": f"{fault['type']} fault injected on {service}"}


def _procs(state, service: str, replica: int | None):
    from gameday.stack import admin

    return admin.select(state, service, "all" if replica is None else replica)


def inject_fault(service: str, fault_type: str, ttl: str | float = "60s",
                 params: dict | None = None, route: str = "/v1/*", probability: float = 1.0,
                 replica: int | None = None, run: str | None = None,
                 configuration: Configuration = None, secrets: Secrets = None) -> list[dict]:
    """Add a fault to every replica of ``service`` (or one); the faults as stored."""
    ttl_s = seconds(ttl, "ttl")
    if ttl_s > MAX_TTL_S:
        raise ActivityFailed(f"inject_fault: ttl must be at most {MAX_TTL_S:g}s, got {ttl!r}")
    if not 0 <= float(probability) <= 1:
        raise ActivityFailed(f"inject_fault: probability must be in 0..1, got {probability!r}")
    body = {"type": fault_type, "params": dict(params or {}), "route": route,
            "probability": float(probability), "ttl_s": ttl_s}
    r, state = running_stack(run, configuration)
    with activity(f"inject_fault {fault_type} on {service}"):
        added = _admin(_procs(state, service, replica), r.token(), "POST", "/admin/faults",
                       body)
    # On the timeline at once: an activity's "after" control only runs after its pause.
    _timeline(r, "fault_start", **fault_fields({"service": service, "fault_type": fault_type,
                                                "params": params, "route": route,
                                                "probability": probability, "ttl": ttl_s},
                                               added))
    return added


def clear_faults(service: str | None = None, replica: int | None = None,
                 run: str | None = None, configuration: Configuration = None,
                 secrets: Secrets = None) -> int:
    """Remove the faults of ``service`` (default: every service); how many were removed."""
    from gameday.stack import admin

    r, state = running_stack(run, configuration)
    with activity(f"clear_faults on {service or 'all services'}"):
        procs = admin.select(state, service, "all" if replica is None else replica)
        cleared = sum(n for _, n in admin.clear_faults(procs, r.token()))
    if cleared:
        _timeline(r, "fault_end", service=service, cleared=cleared,
                  text=f"cleared {cleared} fault(s) on {service or 'every service'}")
    return cleared


def kill_service(service: str, replica: int = 0, run: str | None = None,
                 configuration: Configuration = None, secrets: Secrets = None) -> int:
    """SIGKILL one replica (the supervisor restarts it with backoff); its pid."""
    from gameday.stack.control import kill_process

    r = resolve(run, configuration)
    with activity(f"kill_service {service}-{replica}"):
        return kill_process(service, int(replica), r)


def pause_service(service: str, replica: int = 0, run: str | None = None,
                  configuration: Configuration = None, secrets: Secrets = None) -> int:
    """SIGSTOP one replica: alive but answering nothing, like a hung node; its pid."""
    from gameday.stack.control import pause_process

    r = resolve(run, configuration)
    with activity(f"pause_service {service}-{replica}"):
        return pause_process(service, int(replica), r)


def resume_service(service: str, replica: int = 0, run: str | None = None,
                   configuration: Configuration = None, secrets: Secrets = None) -> int:
    """SIGCONT a paused replica; its pid."""
    from gameday.stack.control import resume_process

    r = resolve(run, configuration)
    with activity(f"resume_service {service}-{replica}"):
        return resume_process(service, int(replica), r)


def restart_service(service: str, replica: int = 0, wait: bool = True, run: str | None = None,
                    configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Graceful restart through the supervisor; with ``wait``, returns once ready again."""
    from gameday.stack.control import request_restart

    r = resolve(run, configuration)
    with activity(f"restart_service {service}-{replica}"):
        proc = request_restart(service, int(replica), r, wait=bool(wait))
    return {"process": proc.id, "pid": proc.pid, "state": proc.state, "restarts": proc.restarts}


def deploy_model_version(version: str, replica: int | None = None, run: str | None = None,
                         configuration: Configuration = None,
                         secrets: Secrets = None) -> list[dict]:
    """Serve model ``version`` on every classifier replica (or one)."""
    r, state = running_stack(run, configuration)
    with activity(f"deploy_model_version {version}"):
        return _admin(_procs(state, "classifier", replica), r.token(), "POST",
                      "/admin/model/deploy", {"version": str(version)})


def rollback_model(replica: int | None = None, run: str | None = None,
                   configuration: Configuration = None, secrets: Secrets = None) -> list[dict]:
    """Serve, on every classifier replica (or one), the version live before the last deploy."""
    r, state = running_stack(run, configuration)
    with activity("rollback_model"):
        return _admin(_procs(state, "classifier", replica), r.token(), "POST",
                      "/admin/model/rollback")


def set_gateway_policy(policy: dict, replace: bool = False, run: str | None = None,
                       configuration: Configuration = None, secrets: Secrets = None) -> list[dict]:
    """Change the gateway's resilience levers on every replica.

    PATCH (``replace=False``) updates the policy in force; PUT applies ``policy`` to the
    policy set at start (so ``{}`` with ``replace=True`` resets it).
    """
    if not isinstance(policy, dict):
        raise ActivityFailed(f"set_gateway_policy: policy must be an object, got {policy!r}")
    r, state = running_stack(run, configuration)
    with activity("set_gateway_policy"):
        return _admin(_procs(state, "gateway", None), r.token(),
                      "PUT" if replace else "PATCH", "/admin/policy", policy)


def _upstream(upstream: str, replica: int | str, verb: str, run, configuration) -> list[dict]:
    r, state = running_stack(run, configuration)
    with activity(f"{verb}_replica {upstream}/{replica}"):
        return _admin(_procs(state, "gateway", None), r.token(), "POST",
                      f"/admin/upstreams/{upstream}/{replica}/{verb}")


def eject_replica(upstream: str, replica: int | str, run: str | None = None,
                  configuration: Configuration = None, secrets: Secrets = None) -> list[dict]:
    """Take one replica (index, URL or host:port) of ``upstream`` out of the gateway's pool."""
    return _upstream(upstream, replica, "eject", run, configuration)


def uneject_replica(upstream: str, replica: int | str, run: str | None = None,
                    configuration: Configuration = None, secrets: Secrets = None) -> list[dict]:
    """Re-admit an ejected replica of ``upstream`` into the gateway's pool."""
    return _upstream(upstream, replica, "uneject", run, configuration)


def scale_service(service: str, replicas: int, run: str | None = None,
                  configuration: Configuration = None, secrets: Secrets = None) -> list[dict]:
    """Run ``replicas`` replicas of ``service`` (the supervisor starts or stops some, the
    gateway's pool follows); returns the replicas once ready."""
    try:
        from gameday.stack.scale import scale_service as scale
    except ImportError:
        raise ActivityFailed("scale_service: this gameday has no gameday.stack.scale yet; "
                             "scaling a service is not available") from None
    r = resolve(run, configuration)
    with activity(f"scale_service {service} to {replicas}"):
        procs = scale(service, int(replicas), run=r)
    return [{"process": p.id, "url": p.url, "pid": p.pid, "state": p.state} for p in procs]


def start_load(profile: str = "steady", users: int = 10, duration: str | float = "60s",
               run: str | None = None, configuration: Configuration = None,
               secrets: Secrets = None) -> dict:
    """Start Locust in the background against the run's gateway; output in <run>/load/."""
    from gameday import load

    duration_s = seconds(duration, "duration")
    r = resolve(run, configuration)
    with activity(f"start_load {profile}"):
        handle = load.start_load(profile, int(users), duration_s, run=r)
    return {"pid": handle.pid, "out_dir": str(handle.out_dir), "profile": profile,
            "users": int(users), "duration_s": duration_s}


def stop_load(run: str | None = None, configuration: Configuration = None,
              secrets: Secrets = None) -> list[int]:
    """Stop every Locust run of the run still going; their pids."""
    from gameday import load

    r = resolve(run, configuration)
    with activity("stop_load"):
        return load.stop_load(run=r)
