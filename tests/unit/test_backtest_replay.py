"""Backtest replay: the evaluation schedule, the series kept, progress and the CLI options."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.engine.exposition import Sample
from gameday.engine.recording import RecordingWriter
from gameday.engine.ruleeval import Rule, RuleGroup
from gameday.engine.store import SampleStore
from gameday.prometheus.backfill import rule_levels
from gameday.slo.replay import Schedule, Selectors, replay

ROOT = Path(__file__).resolve().parents[2]
START = 1_800_000_000.0  # a multiple of 15 s


def _recording(path: Path, seconds: int = 120, step: float = 5.0) -> Path:
    writer = RecordingWriter(path, started_at=START, interval_s=step)
    for i in range(int(seconds / step)):
        t = START + i * step
        writer.write_scrape(t, "app", "127.0.0.1:1", {}, [
            Sample("req_total", (("code", "200"),), 10.0 * i),
            Sample("req_total", (("code", "500"),), float(i)),
            Sample("other_total", (), 1.0 * i)] if i != 7 else None)  # scrape 7 failed
    writer.close()
    return path


def _group(name: str, expr: str = 'sum(rate(req_total{code="500"}[30s]))') -> RuleGroup:
    return RuleGroup(name, 0.0, [Rule(f"{name}:x", expr, "record")])


def test_schedule_follows_multiples_of_the_interval_and_group_offsets():
    a, b = _group("a"), _group("b")
    schedule = Schedule([a, b], 15.0, {"b": 4.5})
    schedule.start(START + 1)
    instants = [schedule.pop() for _ in range(4)]
    assert [(t - START, [g.name for g in due]) for t, due in instants] == [
        (4.5, ["b"]), (15.0, ["a"]), (19.5, ["b"]), (30.0, ["a"])]


def test_replay_evaluates_on_the_grid_after_every_scrape_up_to_each_instant(tmp_path):
    rec = _recording(tmp_path / "r.jsonl.gz")
    group = _group("a")
    store = SampleStore()
    seen = []
    header, evals = replay(rec, [group], store, seen.append, eval_interval=15.0)
    assert header["interval_s"] == 5.0
    assert [t - START for t in seen] == [15.0 * k for k in range(8)]  # last scrape: +115 s
    assert evals == 8
    # only the series a rule selects are stored: not other_total, nor req_total{code="200"}
    assert [dict(k).get("code") for k, _ in store.series([])
            if dict(k)["__name__"] != "a:x"] == ["500"]
    # the failed scrape made it stale, as SampleStore.ingest does
    ring = next(r for k, r in store.series([("code", "=", "500")]))
    assert ring.stale_at and ring.ts[7] == int((START + 35) * 1000)


def test_replay_without_interval_evaluates_each_scrape_round(tmp_path):
    rec = _recording(tmp_path / "r.jsonl.gz", seconds=30)
    progress = []
    _, evals = replay(rec, [_group("a")], SampleStore(), lambda t: None,
                      progress=lambda share, n, t: progress.append((share, n)))
    assert evals == 6
    assert progress[-1] == (1.0, 6)


def test_selectors_keep_what_some_rule_can_read():
    sel = Selectors([_group("a"), _group("b", 'up == 0 or count(x_total{a!="1"})')])
    assert {"__name__": "req_total", "code": "500"} in sel
    assert {"__name__": "req_total", "code": "200"} not in sel
    assert {"__name__": "x_total", "a": "2"} in sel
    assert {"__name__": "x_total", "a": "1"} not in sel
    assert "up" in sel.names


def test_generated_rules_split_into_dependency_levels():
    files = sorted((ROOT / "slos" / "_gen" / "google-30d").glob("*.rules.yml"))
    levels = rule_levels(files)
    names = [{r["record"] for doc in level.values() for g in doc["groups"] for r in g["rules"]}
             for level in levels]
    assert "slo:sli_error:ratio_rate5m" in names[0] and "slo:objective:ratio" in names[0]
    assert "slo:sli_error:ratio_rate30d" in names[1]
    assert "slo:period_burn_rate:ratio" in names[2]
    assert "slo:period_error_budget_remaining:ratio" in names[3]
    assert all("alert" not in r for level in levels for doc in level.values()
               for g in doc["groups"] for r in g["rules"])


@pytest.fixture()
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_cli_backtest_eval_interval_and_progress(tmp_path, at_root):
    rec = _recording(tmp_path / "r.jsonl.gz", seconds=60, step=1.0)
    result = CliRunner().invoke(app, ["slo", "backtest", "slos/gateway.yaml", "--from",
                                      str(rec), "--catalog", "google-30d",
                                      "--eval-interval", "15s"])
    assert result.exit_code == 0, result.output
    assert "4 evaluations" in result.stdout
    assert "100.0% of the recording" in result.stderr and "evaluations" in result.stderr
    quiet = CliRunner().invoke(app, ["slo", "backtest", "slos/gateway.yaml", "--from",
                                     str(rec), "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


@pytest.mark.parametrize("args, text", [
    (["--eval-interval", "0s"], "--eval-interval: must be"),
    (["--eval-interval", "soon"], "--eval-interval"),
])
def test_cli_backtest_bad_eval_interval(tmp_path, at_root, args, text):
    rec = _recording(tmp_path / "r.jsonl.gz", seconds=10, step=1.0)
    result = CliRunner().invoke(app, ["slo", "backtest", "slos/gateway.yaml", "--from",
                                      str(rec), *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and text in result.stderr


def test_cli_backtest_unknown_name_lists_the_shipped_ones(at_root):
    result = CliRunner().invoke(app, ["slo", "backtest", "slos/gateway.yaml", "--from",
                                      "no-such-recording"])
    assert result.exit_code == 2
    assert "--from: no such recording 'no-such-recording'" in result.stderr


def test_cli_backtest_without_a_spec_uses_the_specs_in_use(tmp_path, at_root):
    """As 'gameday slo validate' does: no SPEC means the SLO specs gameday finds (here the
    checkout's slos/), so an installed user can backtest a shipped recording at once."""
    rec = _recording(tmp_path / "r.jsonl.gz", seconds=10, step=1.0)
    result = CliRunner().invoke(app, ["slo", "backtest", "--from", str(rec), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "design: slos, catalog drill-12h" in result.stdout
    for slo in ("gateway-gateway-availability", "llm-llm-time-to-first-token"):
        assert slo in result.stdout
