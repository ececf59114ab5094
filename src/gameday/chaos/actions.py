"""Chaos Toolkit actions on a running gameday stack (``gameday up``).

Every function takes keyword arguments, then ``run`` (run id or run folder; default: see
gameday.chaos.context), then ``configuration`` and ``secrets``; returns JSON-serialisable
values and raises ``chaoslib.exceptions.ActivityFailed`` with the reason on failure.
"""

from __future__ import annotations

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday.chaos.context import activity, resolve, running_stack, seconds
from gameday.faults.client import FaultClient, validate_fault
from gameday.faults.model import DEFAULT_ROUTE

__all__ = ["clear_faults", "deploy_model_version", "eject_replica", "inject_fault",
           "kill_service", "pause_service", "restart_service", "resume_service",
           "rollback_model", "scale_service", "set_gateway_policy", "start_load", "stop_load",
           "uneject_replica"]

WHO = "chaos"  # who acted, on the timeline


def _admin(procs, token: str, method: str, path: str, body=None) -> list[dict]:
    from gameday.stack.admin import _call  # the admin client's error wording, reused

    return [{"process": p.id, **(_call(p, token, method, path, json=body).json() or {})}
            for p in procs]


def _procs(state, service: str, replica: int | None):
    from gameday.stack import admin

    return admin.select(state, service, "all" if replica is None else replica)


def _faults(run, configuration) -> FaultClient:
    """The run's fault client, acting as the experiment (who: chaos)."""
    r, state = running_stack(run, configuration)
    return FaultClient(r, state, who=WHO)


def inject_fault(service: str, fault_type: str, ttl: str | float = "60s",
                 params: dict | None = None, route: str = DEFAULT_ROUTE, probability: float = 1.0,
                 replica: int | None = None, run: str | None = None,
                 configuration: Configuration = None, secrets: Secrets = None) -> list[dict]:
    """Add a fault to every replica of ``service`` (or one); the faults as stored.

    Checked and recorded as ``gameday faults add`` does (gameday.faults.client): the TTL is
    at most an hour; ``fault_start`` is on the timeline as soon as the fault is in (an
    activity's "after" control only runs after its pause)."""
    with activity("inject_fault"):
        body = validate_fault(service, fault_type, params, ttl=ttl, route=route,
                              probability=probability)
    client = _faults(run, configuration)
    with activity(f"inject_fault {fault_type} on {service}"):
        added = client.add(service, body, "all" if replica is None else replica)
    return [{"process": pid, **fault} for pid, fault in added]


def clear_faults(service: str | None = None, replica: int | None = None,
                 run: str | None = None, configuration: Configuration = None,
                 secrets: Secrets = None) -> int:
    """Remove the faults of ``service`` (default: every service); how many were removed.
    ``fault_end`` is on the timeline when any was."""
    client = _faults(run, configuration)
    with activity(f"clear_faults on {service or 'all services'}"):
        cleared = client.clear(service, "all" if replica is None else replica)
    return sum(n for _, n in cleared)


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
