"""What users write, wrong: each mistake is one line naming the file, the field and the bad
value, exit 2, and nothing is written (no run folder, no generated file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gameday.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def fail(cwd: Path, *args: str, text: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert text in lines[0], lines[0]
    assert not (cwd / ".gameday").exists(), "a run folder was made for bad input"


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "slos", tmp_path / "slos", ignore=shutil.ignore_patterns("_gen"))
    return tmp_path


SLO_EDITS = [
    # (file, old, new, expected text)
    ("gateway.yaml", "target: 0.999", "target: 1.5",
     "slos/gateway.yaml: slo 'gateway-availability': objectives[0].target must be below 1, "
     "got 1.5"),
    ("gateway.yaml", "target: 0.999", "target: high",
     "objectives[0].target must be a number, got 'high'"),
    ("gateway.yaml", "  objectives:", "  objectivez:",
     "slos/gateway.yaml: slo 'gateway-availability': unknown field spec.objectivez "
     "(did you mean 'objectives'?)"),
    ("features.yaml", 'query: feature_store_queries_total{outcome="error"}',
     'query: sum(rate(feature_store_queries_total{outcome="error"}[5m]))',
     "ratioMetric.bad.metricSource.spec.query must be a metric selector like "
     "name{label=\"value\"}, got 'sum(rate(feature_store_queries_total{outcome=\"error\"}"),
    ("gateway.yaml", "apiVersion: openslo/v1", "apiVersion: openslo/v1\n  bad: [",
     "slos/gateway.yaml: not valid YAML"),
]


@pytest.mark.parametrize("name, old, new, text", SLO_EDITS)
def test_bad_slo_specs(work, name, old, new, text):
    path = work / "slos" / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    fail(work, "slo", "validate", "slos", text=text)
    fail(work, "slo", "generate", "--specs", "slos", text=text)
    assert not (work / "slos" / "_gen").exists(), "generate wrote files for a bad spec"


def scenario(work: Path, edit) -> Path:
    body = json.loads((ROOT / "experiments" / "xid-error-burst.json").read_text())
    block = next(e for e in body["extensions"] if e.get("name") == "gameday")
    edit(block)
    path = work / "mine.json"
    path.write_text(json.dumps(body))
    return path


@pytest.mark.parametrize("edit, text", [
    (lambda b: b.update(severity="SEV9"),
     "mine.json: extensions[gameday].severity: expected one of SEV1, SEV2, SEV3, SEV4, SEV5, "
     "got 'SEV9'"),
    (lambda b: b.update(expected={"detect_within_s": "soon"}),
     "mine.json: extensions[gameday].expected.detect_within_s: expected seconds from 1 to "
     "3600, got 'soon'"),
    (lambda b: b.update(expected={"detect_within_s": -5}), "got -5"),
    (lambda b: b["mitigations"][0].update(lever="reboot_universe"),
     "mine.json: extensions[gameday].mitigations[0].lever: 'reboot_universe' is not a lever"),
    (lambda b: b.update(hintz=[]),
     "mine.json: extensions[gameday]: unknown field 'hintz' (did you mean 'hints'?)"),
    (lambda b: b.update(title=7), "mine.json: extensions[gameday].title: expected str, got 7"),
    (lambda b: b.pop("root_cause"),
     "mine.json: extensions[gameday]: missing field 'root_cause'"),
])
def test_bad_scenario_metadata(work, edit, text):
    path = scenario(work, edit)
    fail(work, "drill", "run", str(path.name), "--auto", text=text)


def test_malformed_scenario_json(work):
    (work / "mine.json").write_text('{"title": "x",')
    fail(work, "drill", "run", "mine.json", "--auto", text="mine.json: not valid JSON")


@pytest.mark.parametrize("args, text", [
    (["classifier", "nosuch"], "TYPE: classifier has no fault type 'nosuch'; types: latency"),
    (["gateway", "xid_errors"], "TYPE: gateway has no fault type 'xid_errors'"),
    (["classifier", "latency", "--param", "delay_ms=abc"],
     "--param: fault 'latency' params: field 'delay_ms': Input should be a valid number"),
    (["classifier", "latency", "--param", "delay_ms=-1"],
     "--param: fault 'latency' params: field 'delay_ms': Input should be greater than or "
     "equal to 0, got -1"),
    (["classifier", "latency", "--param", "nosuch=1"],
     "--param: fault 'latency' params: field 'nosuch': Extra inputs are not permitted, "
     "got 1"),
    (["classifier", "latency", "--ttl", "2h"], "--ttl: at most 1h, got '2h'"),
])
def test_bad_faults_are_refused_before_any_stack_is_needed(work, args, text):
    if "--ttl" not in args:
        args = [*args, "--ttl", "30s"]
    fail(work, "faults", "add", *args, text=text)


@pytest.mark.parametrize("query, text", [
    ("holt_winters(x[5m], 0.5, 0.5)", "unknown function with name 'holt_winters'"),
    ("label_replace(x, \"a\", \"b\", \"c\", \"d\")", "unsupported PromQL function "
                                                     "'label_replace'"),
    ("x[5m] @ 100", "unsupported PromQL '@' modifier"),
    ("sum(rate(x[5m])", "cannot parse PromQL 'sum(rate(x[5m])'"),
])
def test_unsupported_promql_is_named(query, text):
    from gameday.engine.embedded import EmbeddedEngine
    from gameday.engine.promql import PromQLError

    with pytest.raises(PromQLError) as err:
        EmbeddedEngine([]).query(query, 1000.0)
    assert text in str(err.value)
