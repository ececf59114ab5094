"""Fault schedules for ``gameday record``: which fault, when, for how long.

A schedule is a YAML list; each entry is a fault as ``gameday faults add`` takes it, the
time it starts (from the start of the recording) and how long it lasts (its TTL)::

    - at: 2m
      for: 90s
      fault: {service: classifier, type: xid_errors, params: {failed_fraction: 1.0}}
    - at: 5m
      for: 1m
      fault: {service: features, type: slow_store, params: {delay_ms: 300},
              replica: all, route: "*", probability: 1.0}

``validate_schedule`` checks everything first (durations, the fault through the fault
client's own :func:`gameday.faults.client.validate_fault`) and raises naming the file, the
entry and the field; running it is the recorder's job (``gameday.record.session``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gameday.durations import format_duration, parse_duration
from gameday.errors import GamedayError, ValidationError
from gameday.faults.model import DEFAULT_ROUTE

ENTRY_KEYS = ("at", "for", "fault")
FAULT_KEYS = ("service", "type", "params", "route", "probability", "replica")


@dataclass(frozen=True)
class ScheduledFault:
    at_s: float
    for_s: float
    service: str
    body: dict  # the admin API's request body (validate_fault), TTL = for_s
    replica: int | str = "all"

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.body["params"].items())
        return (f"{self.body['type']} on {self.service}" + (f" ({params})" if params else "")
                + f" at {format_duration(self.at_s)} for {format_duration(self.for_s)}")

    def as_dict(self) -> dict:
        """The entry as the recording's header keeps it (plain JSON)."""
        return {"at_s": self.at_s, "for_s": self.for_s, "service": self.service,
                "replica": self.replica, "type": self.body["type"],
                "params": self.body["params"], "route": self.body["route"],
                "probability": self.body["probability"]}


def _seconds(value, where: str, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(f"{where}: not a duration, got {value!r}; use 30s, 2m, 1h")
    if isinstance(value, str):
        return parse_duration(value, where=where) if value.strip() not in ("0", "0s") else 0.0
    if value < 0 or (value == 0 and not zero_ok) or value != value:
        raise ValidationError(f"{where}: must be above zero, got {value!r}")
    return float(value)


def _replica(value, where: str) -> int | str:
    if value is None or value == "all":
        return "all"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValidationError(f"{where}: expected a replica number or 'all', got {value!r}")


def validate_entry(entry, where: str) -> ScheduledFault:
    """One entry of a schedule, checked; ``where`` names it in messages."""
    from gameday.faults.client import validate_fault

    if not isinstance(entry, dict):
        raise ValidationError(f"{where}: expected a mapping with {', '.join(ENTRY_KEYS)}, "
                              f"got {entry!r}")
    unknown = sorted(set(entry) - set(ENTRY_KEYS), key=str)
    if unknown:
        raise ValidationError(f"{where}: unknown field {unknown[0]!r}; fields: "
                              f"{', '.join(ENTRY_KEYS)}")
    for key in ENTRY_KEYS:
        if key not in entry:
            raise ValidationError(f"{where}: missing field {key!r}")
    at_s = _seconds(entry["at"], f"{where}.at", zero_ok=True)
    for_s = _seconds(entry["for"], f"{where}.for")
    fault = entry["fault"]
    fw = f"{where}.fault"
    if not isinstance(fault, dict):
        raise ValidationError(f"{fw}: expected a mapping with service, type, params, got "
                              f"{fault!r}")
    unknown = sorted(set(fault) - set(FAULT_KEYS), key=str)
    if unknown:
        raise ValidationError(f"{fw}: unknown field {unknown[0]!r}; fields: "
                              f"{', '.join(FAULT_KEYS)}")
    for key in ("service", "type"):
        if not isinstance(fault.get(key), str) or not fault.get(key):
            raise ValidationError(f"{fw}.{key}: expected a name, got {fault.get(key)!r}")
    names = {"type": f"{fw}.type", "params": f"{fw}.params", "route": f"{fw}.route",
             "probability": f"{fw}.probability", "ttl": f"{where}.for"}
    body = validate_fault(fault["service"], fault["type"], fault.get("params"), ttl=for_s,
                          route=fault.get("route", DEFAULT_ROUTE),
                          probability=fault.get("probability", 1.0), names=names)
    return ScheduledFault(at_s, for_s, fault["service"], body,
                          _replica(fault.get("replica", "all"), f"{fw}.replica"))


def validate_schedule(entries, source: str, duration_s: float | None = None,
                      ) -> list[ScheduledFault]:
    """The faults of a schedule in start order; ValidationError naming ``source`` (the
    file), the entry and the field. With ``duration_s``, every fault must start before the
    recording ends."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValidationError(f"{source}: expected a list of faults (- at: 2m, for: 90s, "
                              f"fault: {{...}}), got {type(entries).__name__}")
    out = []
    for i, entry in enumerate(entries):
        where = f"{source}: faults[{i}]"
        try:
            step = validate_entry(entry, where)
        except ValidationError as err:
            text = str(err)
            if not text.startswith(source):  # validate_fault's own wording
                text = f"{where}: {text}"
            raise ValidationError(text) from None
        if duration_s is not None and step.at_s >= duration_s:
            raise ValidationError(f"{where}.at: starts after the recording ends "
                                  f"({format_duration(duration_s)}), got {entry['at']!r}")
        out.append(step)
    return sorted(out, key=lambda s: s.at_s)


def load_schedule(path: Path, duration_s: float | None = None) -> list[ScheduledFault]:
    """Read and check a schedule file."""
    from gameday.userfiles import load_yaml_documents

    path = Path(path)
    try:
        docs = load_yaml_documents(path, "fault schedule")
    except GamedayError as err:
        raise ValidationError(str(err)) from None
    if len(docs) > 1:
        raise ValidationError(f"{path}: expected one YAML document, got {len(docs)}")
    return validate_schedule(docs[0] if docs else None, str(path), duration_s)
