"""Scenarios: the Chaos Toolkit experiments of experiments/ and their gameday metadata.

Each experiment carries an ``extensions`` entry named ``gameday`` (schema in
experiments/schema/gameday-extension.schema.json): the learner's title and briefing, a
severity guess, the SLOs and alerts that should fire, the runbook, hints, the root cause
(the answer key) and the mitigations that work, as calls of gameday.chaos.actions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from gameday.errors import NotFoundError, ValidationError


def default_experiments_dir() -> Path:
    """``experiments/`` of the resources in use (gameday.resources)."""
    from gameday.resources import experiments_dir

    return experiments_dir()


@dataclass
class Mitigation:
    lever: str
    arguments: dict = field(default_factory=dict)
    text: str = ""


@dataclass
class Scenario:
    name: str
    path: Path
    experiment: dict
    title: str
    briefing: str
    severity: str
    slos: list[str]
    alerts: list[str]
    runbook: str | None
    hints: list[str]
    root_cause: str
    keywords: list[str]
    mitigations: list[Mitigation]
    detect_within_s: float | None
    recover_within_s: float | None
    stack: dict = field(default_factory=dict)  # replicas, memory_limits, sets for `gameday up`
    diagnosis: dict | None = None  # {"component", "failure_mode"}: the answer key as a choice
    people: dict = field(default_factory=dict)  # interactive limits (expected.people)

    def limits(self, mode: str) -> dict:
        """drill.json's ``expected`` (seconds): tight for --auto, the calibrated ``people``
        limits for a person (docs/scoring.md); acknowledge counts from detection."""
        out = {"detect_s": self.detect_within_s, "recover_s": self.recover_within_s}
        if mode != "auto" and self.people:
            out.update(acknowledge_s=self.people.get("acknowledge_within_s"),
                       mitigate_s=self.people.get("mitigate_within_s"),
                       recover_s=self.people.get("recover_within_s"))
        return {k: v for k, v in out.items() if v is not None}

    def stack_args(self) -> dict:
        """Keyword arguments of build_spec for the stack this scenario needs."""
        return {"replicas": [f"{k}={v}" for k, v in (self.stack.get("replicas") or {}).items()],
                "memory_limits": [f"{k}={v}" for k, v in
                                  (self.stack.get("memory_limits") or {}).items()],
                "sets": list(self.stack.get("sets") or [])}

    def public(self, hidden: bool = False) -> dict:
        """What the learner may see (with ``hidden``, for the wheel: nothing that tells)."""
        if hidden:
            return {"name": "hidden", "title": "A hidden scenario (wheel of misfortune)",
                    "briefing": "Something will break. Follow the pages and the runbooks."}
        return {"name": self.name, "title": self.title, "briefing": self.briefing,
                "severity": self.severity, "slos": self.slos, "alerts": self.alerts,
                "runbook": self.runbook}

    def answer_key(self) -> dict:
        return {"root_cause": self.root_cause, "keywords": self.keywords,
                "diagnosis": self.diagnosis,
                "slos": list(self.slos),
                "mitigations": [m.__dict__ for m in self.mitigations]}


def _field(block: dict, key: str, kind, where: str, default=None, required=True):
    if key not in block:
        if required:
            raise ValidationError(f"{where}: extensions[gameday]: missing field {key!r}")
        return default
    value = block[key]
    if not isinstance(value, kind):
        raise ValidationError(f"{where}: extensions[gameday].{key}: expected "
                              f"{getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _stack_block(stack: dict, where: str) -> dict:
    """``{"replicas": {svc: n}, "memory_limits": {svc: "200M"}, "sets": ["svc.f=v"]}``."""
    for key, kind in (("replicas", dict), ("memory_limits", dict), ("sets", list)):
        if key in stack and not isinstance(stack[key], kind):
            raise ValidationError(f"{where}: extensions[gameday].stack.{key}: expected "
                                  f"{kind.__name__}, got {stack[key]!r}")
    unknown = set(stack) - {"replicas", "memory_limits", "sets"}
    if unknown:
        raise ValidationError(f"{where}: extensions[gameday].stack: unknown field(s) "
                              f"{', '.join(sorted(unknown))}")
    return stack


def _alert_names(alerts: list, where: str) -> list[str]:
    """Alert names, given as strings or as ``{"name", "severity"}`` objects."""
    names = []
    for i, a in enumerate(alerts):
        name = a.get("name") if isinstance(a, dict) else a
        if not isinstance(name, str) or not name:
            raise ValidationError(f"{where}: extensions[gameday].alerts[{i}]: expected an "
                                  f"alert name, got {a!r}")
        names.append(name)
    return names


BLOCK_FIELDS = ("name", "scenario", "title", "briefing", "severity", "slos", "alerts",
                "runbook", "hints", "root_cause", "diagnosis", "mitigations", "signal",
                "expected", "keywords", "stack")
EXPECTED_FIELDS = ("detect_within_s", "recover_within_s", "people")
PEOPLE_FIELDS = ("acknowledge_within_s", "mitigate_within_s", "recover_within_s")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4", "SEV5")


def _check_block(b: dict, where: str) -> None:
    """Fields of the gameday block that are misspelt, out of range or name no lever."""
    import difflib

    from gameday.drill.levers import levers

    for key in b:
        if key not in BLOCK_FIELDS:
            close = difflib.get_close_matches(str(key), BLOCK_FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValidationError(f"{where}: extensions[gameday]: unknown field {key!r}{hint}")
    severity = b.get("severity", "SEV3")
    if severity not in SEVERITIES:
        raise ValidationError(f"{where}: extensions[gameday].severity: expected one of "
                              f"{', '.join(SEVERITIES)}, got {severity!r}")
    expected = b.get("expected") or {}
    for key, value in (expected.items() if isinstance(expected, dict) else ()):
        if key not in EXPECTED_FIELDS:
            raise ValidationError(f"{where}: extensions[gameday].expected: unknown field "
                                  f"{key!r}; fields: {', '.join(EXPECTED_FIELDS)}")
        if key == "people":
            _check_seconds(value, PEOPLE_FIELDS, f"{where}: extensions[gameday].expected.people")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
            raise ValidationError(f"{where}: extensions[gameday].expected.{key}: expected "
                                  f"seconds from 1 to 3600, got {value!r}")
    diagnosis = b.get("diagnosis")
    if diagnosis is not None:
        if not isinstance(diagnosis, dict) or set(diagnosis) != {"component", "failure_mode"} \
                or not all(isinstance(v, str) and v.strip() for v in diagnosis.values()):
            raise ValidationError(f"{where}: extensions[gameday].diagnosis: expected "
                                  f"{{\"component\": TEXT, \"failure_mode\": TEXT}}, got "
                                  f"{diagnosis!r}")
    known = levers()
    for i, m in enumerate(b.get("mitigations") or []):
        lever = m.get("lever") if isinstance(m, dict) else None
        if isinstance(lever, str) and lever not in known:
            raise ValidationError(f"{where}: extensions[gameday].mitigations[{i}].lever: "
                                  f"{lever!r} is not a lever; levers: {', '.join(sorted(known))}")


def _check_seconds(block, fields: tuple, where: str) -> None:
    if not isinstance(block, dict):
        raise ValidationError(f"{where}: expected an object, got {block!r}")
    for key, value in block.items():
        if key not in fields:
            raise ValidationError(f"{where}: unknown field {key!r}; fields: {', '.join(fields)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
            raise ValidationError(f"{where}.{key}: expected seconds from 1 to 3600, got "
                                  f"{value!r}")


def parse_scenario(path: Path) -> Scenario:
    from gameday.userfiles import load_json_file

    where = str(path)
    experiment = load_json_file(path, "scenario")  # bounded: size, depth, numbers, Unicode
    if not isinstance(experiment, dict):
        raise ValidationError(f"{where}: an experiment must be a JSON object")
    blocks = [e for e in experiment.get("extensions") or [] if isinstance(e, dict)
              and e.get("name") == "gameday"]
    if not blocks:
        raise ValidationError(f"{where}: no extensions entry named 'gameday' (the drill's "
                              f"metadata); see experiments/README.md")
    b = blocks[0]
    _check_block(b, where)
    mitigations = []
    for i, m in enumerate(_field(b, "mitigations", list, where)):
        if not isinstance(m, dict) or not isinstance(m.get("lever"), str):
            raise ValidationError(f"{where}: extensions[gameday].mitigations[{i}]: needs a "
                                  f"'lever' (a gameday.chaos.actions function), got {m!r}")
        args = m.get("arguments") or {}
        if not isinstance(args, dict):
            raise ValidationError(f"{where}: extensions[gameday].mitigations[{i}].arguments: "
                                  f"expected an object, got {args!r}")
        mitigations.append(Mitigation(m["lever"], args, str(m.get("text", ""))))
    expected = _field(b, "expected", dict, where, {}, required=False)
    return Scenario(
        name=path.stem, path=path, experiment=experiment,
        title=_field(b, "title", str, where),
        briefing=_field(b, "briefing", str, where, "", required=False),
        severity=str(_field(b, "severity", str, where, "SEV3", required=False)),
        slos=list(_field(b, "slos", list, where, [], required=False)),
        alerts=_alert_names(_field(b, "alerts", list, where, [], required=False), where),
        runbook=_field(b, "runbook", str, where, None, required=False),
        hints=list(_field(b, "hints", list, where, [], required=False)),
        root_cause=_field(b, "root_cause", str, where),
        keywords=[str(k) for k in _field(b, "keywords", list, where, [], required=False)],
        mitigations=mitigations,
        detect_within_s=expected.get("detect_within_s"),
        recover_within_s=expected.get("recover_within_s"),
        stack=_stack_block(_field(b, "stack", dict, where, {}, required=False), where),
        diagnosis={k: str(v).strip() for k, v in b["diagnosis"].items()}
        if isinstance(b.get("diagnosis"), dict) else None,
        people=dict(expected.get("people") or {}),
    )


def list_scenarios(folder: Path | None = None) -> list[Scenario]:
    """Every scenario of ``folder`` (default: experiments/); none is an error."""
    folder = folder or default_experiments_dir()
    paths = sorted(Path(folder).glob("*.json"))
    if not paths:
        raise ValidationError(f"no scenarios: no *.json in {folder}")
    return [parse_scenario(p) for p in paths]


def load_scenario(ref: str, folder: Path | None = None) -> Scenario:
    """A scenario by name (``experiments/<name>.json``) or by path."""
    path = Path(ref)
    if path.suffix == ".json" or "/" in ref:
        if not path.is_file():
            raise NotFoundError(f"scenario file {ref!r} not found")
        return parse_scenario(path)
    folder = folder or default_experiments_dir()
    path = folder / f"{ref}.json"
    if not path.is_file():
        names = ", ".join(p.stem for p in sorted(folder.glob("*.json"))) or "none"
        raise ValidationError(f"scenario: no scenario {ref!r} in {folder}; have: {names}")
    return parse_scenario(path)


def pick_wheel(seed: int | None, folder: Path | None = None) -> Scenario:
    """Wheel of misfortune: a scenario drawn at random (reproducible with ``seed``)."""
    scenarios = list_scenarios(folder)
    if not scenarios:
        raise NotFoundError(f"no scenarios in {folder or default_experiments_dir()}")
    return random.Random(seed).choice(scenarios)
