"""Adding and removing replicas of a running service, inside the supervisor.

The supervisor calls ``scale_to`` when a ``{"action": "scale", "name", "replicas"}`` request
arrives (``gameday scale``, ``gameday.stack.scale.scale_service``). New replicas get a free
port and are started like any other; surplus replicas (the highest numbers) are stopped
gracefully and then forgotten. Afterwards the services that call this one get the new
replica list in their environment (for their next restart), the spec in the run folder says
the new count, and the embedded engine and Prometheus scrape the new set. Updating the
running callers (the gateway's pool) is the caller's job: ``gameday.stack.scale`` does it
through the gateway's admin API once the new replicas are ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gameday.stack.plan import free_port, plan_replica
from gameday.stack.process import ManagedProcess

if TYPE_CHECKING:
    from gameday.stack.supervisor import Supervisor

SCALED_DOWN = "ScaledDown"


def service_urls(sup: Supervisor) -> dict[str, list[str]]:
    """Replica URLs per service, leaving out replicas on their way out."""
    urls: dict[str, list[str]] = {}
    for p in sup.processes:
        if p.kill_reason != SCALED_DOWN:
            urls.setdefault(p.spec.name, []).append(p.spec.url)
    return urls


def validate_scale(sup: Supervisor, req: dict) -> str | None:
    """Why the request cannot be carried out, or None."""
    name, replicas = req.get("name"), req.get("replicas")
    names = [s.name for s in sup.spec.services]
    if name not in names:
        return f"no service {name!r}; have {', '.join(names)}"
    svc = sup.spec.service(name)
    if not isinstance(replicas, int) or isinstance(replicas, bool) \
            or not 1 <= replicas <= svc.max_replicas:
        return f"{name}: replicas must be from 1 to {svc.max_replicas}, got {replicas!r}"
    return None


def scale_to(sup: Supervisor, req: dict) -> None:
    problem = validate_scale(sup, req)
    if problem is not None:
        sup.events.emit("scale_refused", error=problem, request=req)
        return
    name, replicas = req["name"], req["replicas"]
    svc = sup.spec.service(name)
    live = [p for p in sup.processes if p.spec.name == name and p.kill_reason != SCALED_DOWN]
    before = len(live)
    if replicas > before:
        taken = {p.spec.replica for p in sup.processes if p.spec.name == name}
        urls = service_urls(sup)
        last = max(i for i, p in enumerate(sup.processes) if p.spec.name == name)
        for _ in range(replicas - before):
            replica = next(i for i in range(svc.max_replicas * 2) if i not in taken)
            taken.add(replica)
            spec = plan_replica(sup.spec, svc, replica, free_port(sup.spec.host), sup.run_dir,
                                urls)
            proc = ManagedProcess(spec)
            last += 1
            sup.processes.insert(last, proc)
            sup._spawn(proc)
    else:
        for p in sorted(live, key=lambda q: q.spec.replica)[replicas:]:
            p.kill_reason = SCALED_DOWN
            p.restart_now = False
            if p.running():
                p.terminate(sup.settings.stop_grace_s)
            else:
                sup.processes.remove(p)
    svc.replicas = replicas
    sup.run_dir.spec_path.write_text(sup.spec.model_dump_json(indent=2))
    refresh_callers(sup)
    sup.observers.update_targets(service_urls(sup))
    sup.events.emit("scaled", service=name, replicas=replicas, before=before)


def refresh_callers(sup: Supervisor) -> None:
    """Callers restarted from now on get the current replica list."""
    urls = service_urls(sup)
    by_name = {s.name: s for s in sup.spec.services}
    for p in sup.processes:
        for var, target in by_name[p.spec.name].upstreams.items():
            if target in urls:
                p.spec.env[var] = ",".join(urls[target])


def forget_if_scaled_down(sup: Supervisor, p: ManagedProcess) -> bool:
    """After ``p`` exited: drop it when it was scaled away."""
    if p.kill_reason != SCALED_DOWN:
        return False
    p.state = "stopped"
    if p in sup.processes:
        sup.processes.remove(p)
    return True
