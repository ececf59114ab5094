"""A stack gameday did not start: containers (docker-compose.yml) or a cluster.

``gameday drill run SCENARIO --stack-file deploy/compose/stack.yaml`` attaches to services
that run elsewhere. The stack file says where they are::

    services:                        # name -> one base URL per replica, in replica order
      gateway: ["http://gateway:8080"]
      classifier: ["http://classifier-0:8082", "http://classifier-1:8083"]
    admin_token_file: /run/secrets/gameday_admin_token   # else $GAMEDAY_ADMIN_TOKEN
    prometheus_url: http://prometheus:9090               # optional
    alertmanager_url: http://alertmanager:9093           # optional

Attaching makes an ordinary run folder (token, ``stack.json`` with ``external: true``) so
that the chaos extension, probes, load and reports work unchanged; the drill's own process
stands in for the supervisor (``supervisor_pid``), and an embedded monitor scrapes the
services so that the run has its recording. What needs the supervisor (kill, pause,
restart, scale a process) is refused with a message that says what to use instead.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from gameday.errors import StackError, ValidationError
from gameday.runfolder import Run, create_run, write_secret
from gameday.slo.names import DRILL_CATALOG
from gameday.stack.state import ProcessState, StackState, write_state

TOKEN_ENV = "GAMEDAY_ADMIN_TOKEN"


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


class ExternalStack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: dict[str, list[str]] = Field(min_length=1)
    admin_token_file: str | None = None
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    catalog: str = DRILL_CATALOG

    @field_validator("services")
    @classmethod
    def _urls(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, urls in value.items():
            if not urls:
                raise ValueError(f"service {name!r} has no URL")
            value[name] = [_check_url(u) for u in urls]
        return value

    @field_validator("prometheus_url", "alertmanager_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)


def load_stack_file(path: Path) -> ExternalStack:
    """Read and check a stack file; errors name the file, the field and the bad value."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ValidationError(f"{path}: cannot read the stack file ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ValidationError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ValidationError(f"{path}: expected a mapping with 'services', got "
                              f"{type(raw).__name__}")
    try:
        return ExternalStack.model_validate(raw)
    except PydanticValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top)"
        value = first.get("input")
        raise ValidationError(f"{path}: {field}: {first['msg']}, got {value!r}") from None


def read_token(stack: ExternalStack, where: Path) -> str:
    """The services' admin token: from ``admin_token_file``, else $GAMEDAY_ADMIN_TOKEN."""
    if stack.admin_token_file:
        try:
            token = Path(stack.admin_token_file).read_text().strip()
        except OSError as err:
            raise ValidationError(f"{where}: admin_token_file: cannot read "
                                  f"{stack.admin_token_file!r} ({err.strerror})") from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise ValidationError(f"{where}: no admin_token_file, and ${TOKEN_ENV} is not set")
    if not token:
        raise ValidationError(f"{where}: admin_token_file: {stack.admin_token_file!r} is empty")
    return token


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def build_state(stack: ExternalStack, run: Run, now: float | None = None) -> StackState:
    now = time.time() if now is None else now
    processes = [ProcessState(name=name, replica=i, url=url, port=_port(url), state="starting",
                              started_at=now)
                 for name, urls in stack.services.items() for i, url in enumerate(urls)]
    return StackState(run_id=run.id, run_dir=str(run.path), supervisor_pid=os.getpid(),
                      status="starting", started_at=now, updated_at=now, processes=processes,
                      external=True, prometheus_url=stack.prometheus_url,
                      alertmanager_url=stack.alertmanager_url, query_url=stack.prometheus_url)


class ExternalAttachment:
    """A run folder for an external stack, and the monitor that records it."""

    def __init__(self, stack: ExternalStack, source: Path, home: Path | None = None) -> None:
        self.stack = stack
        self.source = Path(source)
        self.home = home
        self.run: Run | None = None
        self.monitor = None
        self.state: StackState | None = None

    def start(self, ready_timeout_s: float = 60.0) -> ExternalAttachment:
        token = read_token(self.stack, self.source)
        self.run = create_run(self.home)
        write_secret(self.run.token_path, token)  # the stack's own token replaces ours
        self.state = build_state(self.stack, self.run)
        self._publish()
        self._wait_ready(ready_timeout_s)
        self._start_monitor()
        return self

    def _publish(self) -> None:
        self.state.updated_at = time.time()
        write_state(self.run.state_path, self.state)

    def _wait_ready(self, timeout_s: float) -> None:
        from gameday.stack.health import probe_all

        deadline = time.monotonic() + timeout_s
        while True:
            ready = probe_all([p.url for p in self.state.processes])
            now = time.time()
            for p, ok in zip(self.state.processes, ready, strict=True):
                if ok and p.state != "ready":
                    p.state, p.ready_at = "ready", now
            if all(ready):
                self.state.status, self.state.ready_at = "running", now
                self._publish()
                return
            if time.monotonic() > deadline:
                waiting = ", ".join(f"{p.id} ({p.url})" for p, ok in
                                    zip(self.state.processes, ready, strict=True) if not ok)
                self.state.status, self.state.error = "failed", f"not ready: {waiting}"
                self._publish()
                raise StackError(f"{self.source}: not ready after {timeout_s:g} s: {waiting}")
            time.sleep(0.5)

    def _start_monitor(self) -> None:
        from gameday.stack.monitor import Monitor, default_rules_dir

        self.monitor = Monitor(self.run.path, dict(self.stack.services),
                               default_rules_dir(self.stack.catalog)).start()
        self.state.embedded_url = self.monitor.url
        self.state.query_url = self.stack.prometheus_url or self.monitor.url
        self._publish()

    def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor = None
        if self.state is not None:
            self.state.status = "stopped"
            self.state.embedded_url = None
            self.state.query_url = self.stack.prometheus_url
            self._publish()
