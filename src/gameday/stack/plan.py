"""From a stack spec to the processes to run: ports, URLs, argv and environment."""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path

from gameday.errors import StackError
from gameday.runfolder import Run, sealed_fault_log, sealed_faults_path
from gameday.stack.spec import ServiceSpec, StackSpec

# The same names as gameday.faults.auth / gameday.faults (a test holds them equal); not
# imported from there because gameday.faults pulls in FastAPI, which the supervisor does not
# need and which would delay every start by a few hundred milliseconds.
TOKEN_ENV = "GAMEDAY_ADMIN_TOKEN"
TOKEN_FILE_ENV = "GAMEDAY_ADMIN_TOKEN_FILE"
FAULTS_FILE_ENV = "GAMEDAY_FAULTS_FILE"
FAULTS_LOG_ENV = "GAMEDAY_FAULTS_LOG"  # gameday.faults.store: its log lines to this file


@dataclass
class ProcessSpec:
    """One process of the stack: a replica of a service, on its port."""

    name: str
    replica: int
    port: int
    host: str
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    log_path: Path
    faults_path: Path
    memory_limit_mb: float | None = None
    restart: bool = True
    ready_path: str = "/readyz"

    @property
    def id(self) -> str:
        return f"{self.name}-{self.replica}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _ephemeral_low(default: int = 32768) -> int:
    """The lowest port the kernel hands to outgoing connections (Linux; else the IANA
    default's Linux twin)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def bind_free(host: str = "127.0.0.1", tries: int = 64) -> socket.socket:
    """A socket bound to a free port below the kernel's ephemeral range, still open.

    Port 0 would hand out an ephemeral port, which the next outgoing connection on this
    machine may take between our close and the server's bind (a load generator opens
    hundreds); the ports below that range are only ever taken by a bind. Falls back to
    port 0 when none of ``tries`` random picks is free."""
    low = _ephemeral_low()
    top, bottom = low - 1, max(1024, low - 12_000)
    for _ in range(tries if top > bottom else 0):
        s = socket.socket()
        try:
            s.bind((host, random.randint(bottom, top)))
            return s
        except OSError:
            s.close()
    s = socket.socket()
    s.bind((host, 0))
    return s


def free_port(host: str = "127.0.0.1") -> int:
    with bind_free(host) as s:
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def assign_ports(spec: StackSpec) -> dict[tuple[str, int], int]:
    """(service, replica) -> port: consecutive from base_port in port order, or free ones."""
    ports: dict[tuple[str, int], int] = {}
    if spec.free_ports:
        # Hold every socket until all are picked so no two processes get the same port.
        socks = []
        try:
            for svc in spec.ordered_for_ports():
                for r in range(svc.replicas):
                    s = bind_free(spec.host)
                    socks.append(s)
                    ports[(svc.name, r)] = s.getsockname()[1]
        finally:
            for s in socks:
                s.close()
        return ports
    port = spec.base_port
    for svc in spec.ordered_for_ports():
        for r in range(svc.replicas):
            ports[(svc.name, r)] = port
            port += 1
    return ports


def check_ports_free(processes: list[ProcessSpec]) -> None:
    for p in processes:
        if port_in_use(p.port, p.host):
            raise StackError(f"port {p.port} for {p.id} is already in use; pick other ports "
                             f"with --base-port N or --free-ports")


def faults_path(spec: StackSpec, run: Run, name: str, replica: int) -> Path:
    """The fault store file of one process: in the run folder, or sealed in a wheel."""
    if spec.settings.sealed_faults:
        return sealed_faults_path(run, name, replica)
    return run.faults_path(name, replica)


def _service_env(svc: ServiceSpec, spec: StackSpec, replica: int, port: int, run: Run,
                 urls: dict[str, list[str]]) -> dict[str, str]:
    prefix = svc.env_prefix
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env.update({
        "PYTHONUNBUFFERED": "1",
        f"{prefix}HOST": spec.host,
        f"{prefix}PORT": str(port),
        f"{prefix}REPLICA": str(replica),
        TOKEN_FILE_ENV: str(run.token_path),
        FAULTS_FILE_ENV: str(faults_path(spec, run, svc.name, replica)),
    })
    env.pop(FAULTS_LOG_ENV, None)
    if spec.settings.sealed_faults:  # a wheel: what the services say about faults, sealed
        env[FAULTS_LOG_ENV] = str(sealed_fault_log(run, svc.name, replica))
    env.update({f"{prefix}{k.upper()}": v for k, v in svc.settings.items()})
    env.update({var: ",".join(urls[target]) for var, target in svc.upstreams.items()})
    env.update(svc.env)
    return env


def plan_replica(spec: StackSpec, svc: ServiceSpec, replica: int, port: int, run: Run,
                 urls: dict[str, list[str]]) -> ProcessSpec:
    """One replica of ``svc`` on ``port``; ``urls`` are every service's replica URLs."""
    return ProcessSpec(
        name=svc.name, replica=replica, port=port, host=spec.host, argv=svc.argv(),
        env=_service_env(svc, spec, replica, port, run, urls),
        log_path=run.log_path(svc.name, replica),
        faults_path=faults_path(spec, run, svc.name, replica),
        memory_limit_mb=svc.memory_limit_mb, restart=svc.restart, ready_path=svc.ready_path,
    )


def plan_processes(spec: StackSpec, run: Run,
                   ports: dict[tuple[str, int], int] | None = None) -> list[ProcessSpec]:
    """Every process of the stack in start order."""
    ports = ports or assign_ports(spec)
    urls = {svc.name: [f"http://{spec.host}:{ports[(svc.name, r)]}"
                       for r in range(svc.replicas)] for svc in spec.services}
    return [plan_replica(spec, svc, r, ports[(svc.name, r)], run, urls)
            for svc in spec.services for r in range(svc.replicas)]
