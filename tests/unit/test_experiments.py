"""The scenario catalog (experiments/*.json): valid Chaos Toolkit experiments whose gameday
extension block matches its schema and names levers, alerts and runbooks that exist."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.json"))
SCHEMA = json.loads((ROOT / "experiments/schema/gameday-extension.schema.json").read_text())
RULES = sorted((ROOT / "slos/_gen/drill-12h").glob("*.rules.yml"))
CHAOS = Path(sys.executable).parent / "chaos"
IDS = [p.stem for p in EXPERIMENTS]
REQUIRED_SCENARIOS = {
    "bad-model-rollout", "accelerator-throttling", "classifier-crash-loop",
    "feature-store-outage", "slow-feature-store", "overload-spike", "kv-cache-exhaustion",
    "memory-leak", "cold-start", "xid-error-burst",
}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def gameday_extension(experiment: dict) -> dict:
    found = [e for e in experiment.get("extensions", []) if e.get("name") == "gameday"]
    assert len(found) == 1, "exactly one extension named 'gameday'"
    return found[0]


def schema_errors(value, schema: dict, where: str = "$") -> list[str]:
    """Errors of ``value`` against the JSON Schema keywords the extension schema uses."""
    errors: list[str] = []
    types = {"object": dict, "array": list, "string": str, "number": (int, float),
             "integer": int, "boolean": bool}
    expected = schema.get("type")
    if expected and (not isinstance(value, types[expected])
                     or (expected in ("number", "integer") and isinstance(value, bool))):
        return [f"{where}: expected {expected}, got {value!r}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: must be {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: must be one of {schema['enum']}, got {value!r}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where}: shorter than {schema['minLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, int | float) and "exclusiveMinimum" in schema:
        if value <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: must be above {schema['exclusiveMinimum']}, got {value}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if schema.get("uniqueItems") and len({json.dumps(v) for v in value}) != len(value):
            errors.append(f"{where}: items are not unique")
        for i, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), f"{where}[{i}]")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: missing {key!r}")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected {key!r}")
    return errors


def generated_alerts() -> dict[str, set[str]]:
    """Alert name -> severities, from the drill catalog's generated rules."""
    alerts: dict[str, set[str]] = {}
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    alerts.setdefault(rule["alert"], set()).add(
                        rule.get("labels", {}).get("sloth_severity"))
    return alerts


def generated_slos() -> set[str]:
    slos = set()
    for path in RULES:
        slos |= set(re.findall(r'sloth_slo="([a-z0-9-]+)"', path.read_text()))
    return slos


def activities(experiment: dict) -> list[dict]:
    return (experiment.get("steady-state-hypothesis", {}).get("probes", [])
            + experiment["method"] + experiment.get("rollbacks", []))


def test_the_catalog_covers_every_required_scenario():
    assert REQUIRED_SCENARIOS <= set(IDS), REQUIRED_SCENARIOS - set(IDS)


def test_the_schema_checker_reports_bad_blocks():
    good = gameday_extension(load(EXPERIMENTS[0]))
    assert schema_errors(good, SCHEMA) == []
    bad = {**good, "severity": "SEV9", "extra": 1}
    del bad["hints"]
    errors = schema_errors(bad, SCHEMA)
    assert any("severity" in e for e in errors)
    assert any("'extra'" in e for e in errors)
    assert any("'hints'" in e for e in errors)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=IDS)
def test_chaos_validate_accepts_the_experiment(path):
    out = subprocess.run([str(CHAOS), "--no-log-file", "validate", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "experiment syntax and semantic look valid" in out.stdout + out.stderr


@pytest.mark.parametrize("path", EXPERIMENTS, ids=IDS)
def test_the_gameday_extension_matches_the_schema(path):
    experiment = load(path)
    ext = gameday_extension(experiment)
    assert schema_errors(ext, SCHEMA) == []
    assert ext["scenario"] == path.stem
    probes = {p["name"] for p in experiment["steady-state-hypothesis"]["probes"]}
    assert ext["signal"] == "any" or ext["signal"] in probes, ext["signal"]
    assert ext["runbook"] in {f"runbooks/{a['name']}.md" for a in ext["alerts"]}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=IDS)
def test_every_mitigation_is_an_action_with_arguments_it_accepts(path):
    from gameday.chaos import actions

    for mitigation in gameday_extension(load(path))["mitigations"]:
        lever = mitigation["lever"]
        assert lever in actions.__all__, f"{path.name}: {lever!r} is not a gameday action"
        inspect.signature(getattr(actions, lever)).bind(**mitigation["arguments"])


@pytest.mark.parametrize("path", EXPERIMENTS, ids=IDS)
def test_every_activity_names_an_extension_function_with_arguments_it_accepts(path):
    import importlib

    for activity in activities(load(path)):
        provider = activity["provider"]
        assert provider["type"] == "python"
        module = importlib.import_module(provider["module"])
        assert provider["func"] in module.__all__, provider
        inspect.signature(getattr(module, provider["func"])).bind(**provider["arguments"])


@pytest.mark.parametrize("path", EXPERIMENTS, ids=IDS)
def test_steady_state_tolerances_are_numeric_ranges(path):
    for probe in load(path)["steady-state-hypothesis"]["probes"]:
        low, high = probe["tolerance"]
        assert isinstance(low, int | float) and isinstance(high, int | float) and low < high


@pytest.mark.parametrize("path", EXPERIMENTS, ids=IDS)
def test_alerts_slos_and_runbooks_exist(path):
    ext = gameday_extension(load(path))
    alerts = generated_alerts()
    for alert in ext["alerts"]:
        assert alert["name"] in alerts, f"{path.name}: no generated alert {alert['name']!r}"
        assert alert["severity"] in alerts[alert["name"]], alert
    assert set(ext["slos"]) <= generated_slos(), ext["slos"]
    assert (ROOT / ext["runbook"]).is_file(), ext["runbook"]


def test_the_readme_lists_every_scenario():
    text = (ROOT / "experiments/README.md").read_text()
    for stem in IDS:
        assert f"{stem}.json" in text, stem
