"""`gameday slo backtest`: replaying recorded incidents against an SLO and alert design."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.engine.exposition import Sample
from gameday.engine.recording import RecordingWriter
from gameday.errors import ValidationError
from gameday.slo.backtest import build_groups, find_incidents, run_backtest, with_objective
from gameday.slo.validate import load_slos
from gameday.slo.windows import load_catalog
from tests.procs import ROOT

START = 1_800_000_000.0
GW = "gateway-gateway-availability"


def write_incident(path, quiet=300, burst=60, after=240, error_ratio=1.0, rps=50):
    """Gateway classify traffic: ``quiet`` s of 200s, ``burst`` s at ``error_ratio`` 5xx,
    ``after`` s quiet again; one scrape a second."""
    writer = RecordingWriter(path, started_at=START, interval_s=1.0)
    ok = bad = 0.0
    base = (("method", "POST"), ("replica", "0"), ("route", "/v1/classify"),
            ("service", "gateway"))
    for i in range(quiet + burst + after):
        ratio = error_ratio if quiet <= i < quiet + burst else 0.0
        ok, bad = ok + rps * (1 - ratio), bad + rps * ratio
        writer.write_scrape(START + i, "gateway", "127.0.0.1:8080", {"replica": "0"}, [
            Sample("http_requests_total", tuple(sorted(base + (("code", "200"),))), ok),
            Sample("http_requests_total", tuple(sorted(base + (("code", "503"),))), bad)])
    writer.close()
    return path


SPEC = """\
# A self-contained copy of the 5xx availability SLO: tests do not follow edits of slos/.
apiVersion: openslo/v1
kind: Service
metadata:
  name: gateway
spec:
  description: Public API.
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: gateway-availability
spec:
  description: Classify requests that do not fail with a server error
  service: gateway
  indicator:
    metadata:
      name: gateway-classify-errors
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            type: Prometheus
            spec:
              query: http_requests_total{service="gateway",route="/v1/classify",code=~"5.."}
        total:
          metricSource:
            type: Prometheus
            spec:
              query: http_requests_total{service="gateway",route="/v1/classify"}
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.999
"""


def write_spec(folder: Path) -> Path:
    path = folder / "availability.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("spec"))


@pytest.fixture(scope="module")
def design(spec_file):
    slos = load_slos([spec_file])
    windows = ROOT / "slos/windows"
    return slos, load_catalog(windows, "drill-12h"), load_catalog(windows, "google-30d")


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    return write_incident(tmp_path_factory.mktemp("rec") / "outage.jsonl.gz")


def test_a_full_outage_pages_within_seconds_and_resets(design, outage):
    slos, drill, _ = design
    bt = run_backtest(outage, slos, drill)
    assert bt.ticks == 600 and bt.interval_s == 1.0
    (r,) = bt.slos
    assert r.traffic and r.severities == ["page", "ticket"]
    (inc,) = r.incidents
    assert 299 <= inc.start <= 301 and 358 <= inc.end <= 361  # errors from 300 s to 359 s
    assert inc.peak_burn > 900  # 100% errors at 99.9%: burn 1000
    # 1000x over 60 s of a 12 h period: 139% of the budget
    assert 1.3 < inc.budget_consumed < 1.5 and abs(r.budget_consumed - inc.budget_consumed) < .05
    # 14.4x over 1m and 5s: at 1000x the first sample with errors is enough
    assert inc.detect_s["page"] <= 5
    # the page resolves once its short windows (5 s, 30 s) forget the errors
    assert 0 <= inc.reset_s["page"] <= 40
    assert inc.detect_s["ticket"] is not None
    assert r.quiet_pages == {"page": 0, "ticket": 0}


def test_quiet_traffic_pages_nothing(design, tmp_path):
    slos, drill, _ = design
    bt = run_backtest(write_incident(tmp_path / "quiet.jsonl.gz", burst=0), slos, drill)
    (r,) = bt.slos
    assert r.traffic and r.incidents == [] and r.episodes == [] and r.budget_consumed == 0
    assert r.quiet_pages == {"page": 0, "ticket": 0}


def test_the_objective_changes_detection(design, tmp_path):
    """5% errors for 2 minutes: burn 50x at 99.9%, 5x at 99%, 2.5x at 98%."""
    slos, drill, _ = design
    rec = write_incident(tmp_path / "partial.jsonl.gz", burst=120, error_ratio=0.05)
    strict = run_backtest(rec, slos, drill).slos[0].incidents[0]
    # the 1m window reaches 14.4 x 0.1% after 1.44 / 5 x 60 s = 17 s of 5% errors
    assert 14 <= strict.detect_s["page"] <= 21
    looser = run_backtest(rec, with_objective(slos, 99), drill).slos[0].incidents[0]
    assert looser.detect_s["page"] is None  # 5x never reaches 6x or 14.4x
    assert looser.detect_s["ticket"] is not None
    assert looser.detect_s["ticket"] > strict.detect_s["ticket"]
    assert looser.budget_consumed < strict.budget_consumed / 5
    loosest = run_backtest(rec, with_objective(slos, 0.98), drill).slos[0]
    assert [i.detect_s for i in loosest.incidents] == [{"page": None, "ticket": None}]


def test_the_catalog_changes_reset(design, outage):
    slos, drill, google = design
    fast = run_backtest(outage, slos, drill).slos[0].incidents[0]
    slow = run_backtest(outage, slos, google).slos[0]
    assert fast.reset_s["page"] is not None
    # a 5m short window still holds the errors when the 4 quiet minutes end
    assert slow.incidents[0].reset_s["page"] is None
    assert slow.budget_consumed < 0.05  # 60 s at 1000x of a 30-day budget: 2.3%


def test_alerts_outside_incidents_are_quiet_period_pages(design, outage):
    slos, drill, _ = design
    (r,) = run_backtest(outage, slos, drill, min_budget=5.0).slos  # nothing is that big
    assert r.incidents == [] and r.blips == 1
    assert r.quiet_pages["page"] >= 1 and r.quiet_pages["ticket"] >= 1


def test_incidents_merge_and_rules_come_from_the_generator(design):
    slos, drill, _ = design
    samples = [(t, 0.5 if t in (10, 11, 20, 100) else 0.0) for t in range(120)]
    found = find_incidents(samples, 0.001, 43200, 1.0, merge_s=30)
    assert [(i.start, i.end) for i in found] == [(10, 20), (100, 100)]
    names = [g.name for g in build_groups(slos, drill, 2.0)]
    assert names == [f"sloth-slo-sli-recordings-{GW}", f"sloth-slo-meta-recordings-{GW}",
                     f"sloth-slo-alerts-{GW}", "gameday-backtest-truth"]
    with pytest.raises(ValidationError, match="--objective"):
        with_objective(slos, 250)
    assert with_objective(slos, 99.5)[0] == replace(slos[0], target=0.995)


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_cli_backtest_compares_catalogs(outage, spec_file, at_root):
    result = CliRunner().invoke(app, ["slo", "backtest", str(spec_file), "--from",
                                      str(outage), "--catalog", "drill-12h", "--catalog",
                                      "google-30d", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [b["catalog"] for b in body] == ["drill-12h", "google-30d"]
    (gw,) = body[0]["slos"]
    assert gw["slo_id"] == GW and gw["incidents"][0]["detect_s"]["page"] <= 5
    assert body[1]["slos"][0]["incidents"][0]["reset_s"]["page"] is None
    text = CliRunner().invoke(app, ["slo", "backtest", str(spec_file.parent), "--from",
                                    str(outage), "--objective", "99"])
    assert text.exit_code == 0, text.output
    assert "objective 99%" in text.stdout and "incident 1: +5m00s" in text.stdout
    assert "page   detected after" in text.stdout


@pytest.mark.parametrize("args, text", [
    (["{spec}", "--from", "missing.jsonl.gz"], "--from: no such recording"),
    (["{spec}", "--from", "{rec}", "--catalog", "drill-1h"],
     "--catalog: no window catalog 'drill-1h'"),
    (["slos/nope.yaml", "--from", "{rec}"], "slos/nope.yaml: no such file or folder"),
    (["{spec}", "--from", "{rec}", "--objective", "100"], "--objective: must be"),
])
def test_cli_backtest_bad_input_exits_2(outage, spec_file, at_root, args, text):
    args = [a.replace("{rec}", str(outage)).replace("{spec}", str(spec_file)) for a in args]
    result = CliRunner().invoke(app, ["slo", "backtest", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and text in result.stderr


def test_cli_backtest_bad_spec_names_the_field(tmp_path, outage, at_root):
    spec = tmp_path / "mine.yaml"
    spec.write_text(SPEC.replace("target: 0.999", "target: 1.5"))
    result = CliRunner().invoke(app, ["slo", "backtest", str(spec), "--from", str(outage)])
    assert result.exit_code == 2 and str(spec) in result.stderr and "1.5" in result.stderr


def test_reset_before_the_incident_ended_is_said_so_not_as_a_negative_time():
    from gameday.slo.backtest import reset_text

    assert reset_text(None) == "still firing at the end"
    assert reset_text(95) == "reset 1m35s after the end"
    assert reset_text(-226) == "stopped 3m46s before the incident ended"


def test_durations_round_before_they_split():
    from gameday.slo.backtest import fmt_s

    assert [fmt_s(x) for x in (None, 0.4, 59.6, 299.6, 61, -90, 7200)] == \
        ["-", "0s", "1m00s", "5m00s", "1m01s", "-1m30s", "2.0h"]
