"""What the local stack runs, as data: services, replicas, settings and supervisor numbers.

The command of each service is part of the spec, so the supervisor can run anything that
answers ``/readyz`` (tests use a tiny stand-in service). Options from the command line are
checked here and fail with a message that quotes the bad value:
``--replicas: unknown service 'clasifier' in 'clasifier=3'; known: classifier, features, ...``.
"""

from __future__ import annotations

import re
import sys

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from gameday.errors import ValidationError
from gameday.slo.names import DRILL_CATALOG

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
FIELD_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Set by the stack for every process; a --set of these would break the wiring.
RESERVED_FIELDS = ("host", "port", "replica")
DEFAULT_BASE_PORT = 8080


class StackSettings(BaseModel):
    """Numbers of the supervisor itself (``--set stack.<field>=<value>``)."""

    model_config = ConfigDict(extra="forbid")

    backoff_initial_s: float = Field(0.5, gt=0, le=60, description="first restart delay")
    backoff_factor: float = Field(2.0, ge=1, le=10, description="delay multiplier per crash")
    backoff_max_s: float = Field(10.0, gt=0, le=600, description="cap of the restart delay")
    backoff_reset_s: float = Field(30.0, gt=0, le=3600,
                                   description="healthy running time that resets the delay")
    ready_timeout_s: float = Field(30.0, gt=0, le=600, description="start: wait for /readyz")
    stop_grace_s: float = Field(5.0, ge=0, le=120, description="SIGTERM to SIGKILL")
    tick_s: float = Field(0.1, gt=0, le=5, description="supervision loop period")
    probe_timeout_s: float = Field(0.5, gt=0, le=30, description="timeout of one /readyz probe")
    monitor: bool = Field(True, description="scrape, record and evaluate SLOs (embedded engine)")
    catalog: str = Field(DRILL_CATALOG, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                         description="window catalog of the rules evaluated (slos/_gen/<catalog>)")
    prometheus: bool = Field(False, description="also run real Prometheus with the same rules")
    prometheus_port: int = Field(0, ge=0, le=65535, description="its port (0: any free one)")
    alert_webhook: str | None = Field(
        None, pattern=r"^https?://[^\s]+$",
        description="with prometheus: also run Alertmanager, delivering to this webhook URL")
    sealed_faults: bool = Field(
        False, description="a wheel: the services' fault store and fault log lines go to "
                           ".gameday/sealed/<run-id>-stack/ until the drill reveals them")


class ServiceSpec(BaseModel):
    """One service of the stack and how to run it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    command: list[str] = Field(default_factory=list,
                               description="argv; empty means python -m gameday_services.<name>")
    replicas: int = Field(1, ge=1)
    max_replicas: int = Field(1, ge=1)
    settings: dict[str, str] = Field(default_factory=dict,
                                     description="field -> value, passed as <NAME>_<FIELD>")
    env: dict[str, str] = Field(default_factory=dict, description="extra raw environment")
    upstreams: dict[str, str] = Field(
        default_factory=dict,
        description="env var -> service name; the value is the comma-joined replica URLs")
    memory_limit_mb: float | None = Field(None, gt=0)
    restart: bool = True
    ready_path: str = "/readyz"

    @property
    def env_prefix(self) -> str:
        return self.name.upper() + "_"

    def argv(self) -> list[str]:
        return list(self.command) or [sys.executable, "-m", f"gameday_services.{self.name}"]


class StackSpec(BaseModel):
    """The whole stack. ``services`` is in start order; ``port_order`` assigns ports."""

    model_config = ConfigDict(extra="forbid")

    services: list[ServiceSpec]
    port_order: list[str] = Field(default_factory=list)
    host: str = "127.0.0.1"
    base_port: int = Field(DEFAULT_BASE_PORT, ge=1, le=65535)
    free_ports: bool = False
    settings: StackSettings = Field(default_factory=StackSettings)

    def service(self, name: str) -> ServiceSpec:
        for s in self.services:
            if s.name == name:
                return s
        raise ValidationError(f"unknown service {name!r}; known: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [s.name for s in self.services]

    def ordered_for_ports(self) -> list[ServiceSpec]:
        first = [self.service(n) for n in self.port_order if n in self.names()]
        return first + [s for s in self.services if s.name not in self.port_order]


def default_spec() -> StackSpec:
    """features, classifier (2 replicas), llm, gateway: ports 8080 gateway, 8081 features,
    8082-8083 classifier, 8084 llm."""
    return StackSpec(
        services=[
            ServiceSpec(name="features"),
            ServiceSpec(name="classifier", replicas=2, max_replicas=8),
            ServiceSpec(name="llm"),
            ServiceSpec(name="gateway", upstreams={
                "GATEWAY_FEATURES_URL": "features",
                "GATEWAY_CLASSIFIER_URLS": "classifier",
                "GATEWAY_LLM_URL": "llm",
            }),
        ],
        port_order=["gateway", "features", "classifier", "llm"],
    )


# -- command-line options, checked ---------------------------------------------------------
def _split_items(values: list[str] | tuple[str, ...]) -> list[str]:
    return [item.strip() for v in values for item in v.split(",") if item.strip()]


def parse_replicas(spec: StackSpec, values: list[str] | tuple[str, ...]) -> dict[str, int]:
    """``["classifier=3"]`` -> ``{"classifier": 3}``, checked against the spec."""
    out: dict[str, int] = {}
    for item in _split_items(values):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValidationError(f"--replicas: expected SERVICE=N, got {item!r}")
        if name not in spec.names():
            raise ValidationError(f"--replicas: unknown service {name!r} in {item!r}; "
                                  f"known: {', '.join(spec.names())}")
        svc = spec.service(name)
        try:
            n = int(raw.strip())
        except ValueError:
            n = 0
        if not 1 <= n <= svc.max_replicas:
            if svc.max_replicas == 1:
                raise ValidationError(f"--replicas: {name} runs exactly 1 replica, got {item!r}")
            raise ValidationError(f"--replicas: replicas of {name} must be a whole number "
                                  f"from 1 to {svc.max_replicas}, got {raw.strip()!r} in {item!r}")
        out[name] = n
    return out


def _service_fields(name: str) -> set[str] | None:
    """Field names of gameday_services.<name>.settings.Settings, or None when it cannot be
    imported."""
    try:
        import importlib

        module = importlib.import_module(f"gameday_services.{name}.settings")
        return set(module.Settings.model_fields)
    except Exception:  # the service may not exist yet, or be mid-edit: skip the check
        return None


def parse_sets(spec: StackSpec, values: list[str] | tuple[str, ...],
               check_fields: bool = True) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """``["classifier.load_time_s=2", "stack.backoff_max_s=5"]`` ->
    ``({"classifier": {"load_time_s": "2"}}, {"backoff_max_s": "5"})``."""
    per_service: dict[str, dict[str, str]] = {}
    stack: dict[str, str] = {}
    from gameday.text import validate_text

    for item in values:
        key, sep, value = item.partition("=")
        key = key.strip()
        validate_text(item, f"--set {key}")  # undecodable bytes: no environment holds them
        if not sep:
            raise ValidationError(f"--set: expected SERVICE.FIELD=VALUE, got {item!r}")
        svc, dot, field = key.partition(".")
        if not dot or not field:
            raise ValidationError(f"--set: expected SERVICE.FIELD=VALUE, got {item!r}")
        parts = field.split(".")
        if not all(FIELD_RE.match(part) for part in parts):
            raise ValidationError(f"--set: field must be lower_snake_case, got {field!r} "
                                  f"in {item!r}")
        if svc == "stack":
            if field not in StackSettings.model_fields:
                raise ValidationError(f"--set: unknown stack setting {field!r} in {item!r}; "
                                      f"known: {', '.join(StackSettings.model_fields)}")
            stack[field] = value
            continue
        if svc not in spec.names():
            raise ValidationError(f"--set: unknown service {svc!r} in {item!r}; known: "
                                  f"{', '.join(spec.names())}, stack")
        # Nested settings (gateway.retry.max_attempts) use pydantic-settings' "__" delimiter.
        field = "__".join(parts)
        top = field.split("__")[0]
        if field in RESERVED_FIELDS:
            raise ValidationError(f"--set: {svc}.{field} is set by the stack itself, "
                                  f"got {item!r}; use --base-port or --free-ports for ports")
        known = _service_fields(svc) if check_fields else None
        if known is not None and top not in known:
            raise ValidationError(f"--set: unknown setting {field!r} of {svc} in {item!r}; "
                                  f"known: {', '.join(sorted(known - set(RESERVED_FIELDS)))}")
        per_service.setdefault(svc, {})[field] = value
    return per_service, stack


def parse_memory_limits(spec: StackSpec, values: list[str] | tuple[str, ...]) -> dict[str, float]:
    """``["classifier=300M"]`` -> ``{"classifier": 300.0}`` (megabytes; K, M, G suffixes)."""
    out: dict[str, float] = {}
    for item in _split_items(values):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValidationError(f"--memory-limit: expected SERVICE=SIZE, got {item!r}")
        if name not in spec.names():
            raise ValidationError(f"--memory-limit: unknown service {name!r} in {item!r}; "
                                  f"known: {', '.join(spec.names())}")
        out[name] = parse_size_mb(raw, where=f"--memory-limit {item!r}")
    return out


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_MB = {"k": 1 / 1024, "m": 1.0, "g": 1024.0, "b": 1 / (1024 * 1024)}


def parse_size_mb(text: str, where: str = "size") -> float:
    """``"300"`` / ``"300M"`` / ``"1.5G"`` / ``"512Mi"`` -> megabytes."""
    m = _SIZE_RE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ValidationError(f"{where}: size must be a positive number with an optional "
                              f"K, M or G suffix (megabytes by default), got {text!r}")
    unit = (m.group(2) or "m")[0].lower()
    return float(m.group(1)) * _SIZE_MB[unit]


def build_spec(base: StackSpec | None = None, replicas: list[str] | tuple[str, ...] = (),
               sets: list[str] | tuple[str, ...] = (),
               memory_limits: list[str] | tuple[str, ...] = (),
               base_port: int | None = None, free_ports: bool = False,
               check_fields: bool = True) -> StackSpec:
    """The default (or given) spec with the command-line options applied, then validated."""
    spec = (base or default_spec()).model_copy(deep=True)
    counts = parse_replicas(spec, replicas)
    per_service, stack_sets = parse_sets(spec, sets, check_fields=check_fields)
    limits = parse_memory_limits(spec, memory_limits)
    for svc in spec.services:
        svc.replicas = counts.get(svc.name, svc.replicas)
        svc.settings = {**svc.settings, **per_service.get(svc.name, {})}
        if svc.name in limits:
            svc.memory_limit_mb = limits[svc.name]
    if stack_sets:
        try:
            spec.settings = StackSettings.model_validate(
                {**spec.settings.model_dump(), **stack_sets})
        except PydanticValidationError as err:
            e = err.errors()[0]
            field = ".".join(str(x) for x in e["loc"])
            raise ValidationError(f"--set: stack.{field}: {e['msg']}, "
                                  f"got {e.get('input')!r}") from None
    if base_port is not None:
        spec.base_port = base_port
    spec.free_ports = free_ports or spec.free_ports
    validate_spec(spec)
    if check_fields:  # each service's values by its own schema, before anything starts
        from gameday.stack.servicesettings import validate_service_settings

        validate_service_settings(spec)
    return spec


def validate_spec(spec: StackSpec) -> None:
    """Raise naming the first thing that does not hold."""
    seen: set[str] = set()
    for svc in spec.services:
        if not NAME_RE.match(svc.name):
            raise ValidationError(f"stack spec: service name must be lower_snake_case, "
                                  f"got {svc.name!r}")
        if svc.name in seen:
            raise ValidationError(f"stack spec: service {svc.name!r} appears twice")
        seen.add(svc.name)
        if svc.replicas > svc.max_replicas:
            raise ValidationError(f"stack spec: {svc.name} allows at most {svc.max_replicas} "
                                  f"replica(s), got {svc.replicas}")
        for var, target in svc.upstreams.items():
            if target not in spec.names():
                raise ValidationError(f"stack spec: {svc.name}: upstream {var} names unknown "
                                      f"service {target!r}")
    total = sum(s.replicas for s in spec.services)
    if not spec.free_ports and spec.base_port + total - 1 > 65535:
        raise ValidationError(f"--base-port: {spec.base_port} leaves no room for {total} "
                              f"ports below 65536")
    if not spec.free_ports and spec.base_port < 1024:
        raise ValidationError(f"--base-port: must be 1024 or above (unprivileged), "
                              f"got {spec.base_port}")
