"""The recordings shipped in recordings/: readable, saying what they are, matching the plan
that made them (recordings/plans/<name>.yaml for a recorded one, recordings/<name>.yaml for a
stitched one), and small."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from gameday.record.schedule import load_schedule

FOLDER = Path(__file__).resolve().parents[2] / "recordings"
SHIPPED = sorted(FOLDER.glob("*.jsonl.gz"))
MAX_BYTES = 1024 * 1024  # each
MAX_TOTAL = 5 * 1024 * 1024
TARGETS = {"gateway", "classifier", "llm", "features"}


def test_there_are_shipped_recordings():
    names = {p.name[: -len(".jsonl.gz")] for p in SHIPPED}
    assert {"feature-store-outage", "slow-feature-store", "kv-cache-exhaustion",
            "bad-model-rollout", "quiet-baseline-segment", "quiet-baseline"} <= names
    assert sum(p.stat().st_size for p in SHIPPED) <= MAX_TOTAL


def _header(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.loads(fh.readline())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_recording_is_small_and_says_what_it_is(path):
    assert path.stat().st_size <= MAX_BYTES
    header = _header(path)
    prov = header["provenance"]
    name = path.name[: -len(".jsonl.gz")]
    if prov.get("stitched"):
        assert (FOLDER / f"{name}.yaml").is_file(), "a stitched recording ships its plan"
        plan = yaml.safe_load((FOLDER / f"{name}.yaml").read_text())
        assert [s["recording"] for s in plan["segments"]] == \
            [s["source"] for s in prov["segments"]]
        for segment in prov["segments"]:  # made from the segment shipped beside it
            source = FOLDER / f"{Path(str(segment['source'])).name.removesuffix('.jsonl.gz')}" \
                              ".jsonl.gz"
            assert hashlib.sha256(source.read_bytes()).hexdigest() == segment["sha256"], \
                f"{name} was stitched from another {source.name}: remake it"
        return
    assert prov["recorded"] is True and prov["tool"] == "gameday record"
    assert prov["load"]["profile"] and prov["load"]["users"] >= 1
    plan = FOLDER / "plans" / f"{name}.yaml"
    assert prov["fault_schedule"]["file"] == plan.name
    expected = [s.as_dict() for s in load_schedule(plan, prov["duration_s"])]
    assert prov["fault_schedule"]["faults"] == expected


SCRAPE = re.compile(r'^\{"t":([0-9.e+]+),"scrape":(\d+),"up":(\d)')


@pytest.mark.parametrize("path", [p for p in SHIPPED if not _header(p)["provenance"]
                                  .get("stitched")], ids=lambda p: p.name)
def test_a_recorded_one_holds_every_target_for_its_duration(path):
    """Cheap: the header, the target lines and a count of scrape lines (values not read)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = json.loads(fh.readline())
        jobs: dict[int, str] = {}
        counts: dict[str, int] = {}
        last, failed = header["started_at"], 0
        for line in fh:
            found = SCRAPE.match(line)
            if found is None:
                if line.startswith('{"target":'):
                    target = json.loads(line)
                    jobs[target["target"]] = target["job"]
                continue
            job = jobs[int(found[2])]
            counts[job] = counts.get(job, 0) + 1
            failed += found[3] == "0"
            last = max(last, float(found[1]))
    duration = header["provenance"]["duration_s"]
    assert set(counts) == TARGETS
    expected = duration / header["interval_s"]
    for job, n in counts.items():  # per replica; a few ticks skipped on a busy machine
        replicas = 2 if job == "classifier" else 1
        assert 0.9 * expected * replicas <= n <= (expected + 2) * replicas, (job, n)
    assert last - header["started_at"] >= 0.95 * duration
    assert failed <= 0.01 * sum(counts.values())  # a scrape may time out on a busy machine


# The SLO each incident recording burns (recordings/README.md); the baseline burns none.
BURNS = {
    "feature-store-outage": "gateway-gateway-availability",
    "slow-feature-store": "gateway-gateway-classify-latency",
    "kv-cache-exhaustion": "llm-llm-time-to-first-token",
    "bad-model-rollout": "classifier-classifier-prediction-quality",
    "quiet-baseline": None,  # stitched from the calm stretch of quiet-baseline-segment
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BURNS))
def test_a_shipped_recording_shows_its_incident_in_a_backtest(name):
    from typer.testing import CliRunner

    from gameday.cli.main import app

    slos = FOLDER.parent / "slos"
    result = CliRunner().invoke(app, ["slo", "backtest", str(slos), "--from",
                                      str(FOLDER / f"{name}.jsonl.gz"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)[0]
    by_slo = {s["slo_id"]: s for s in report["slos"]}
    quiet_pages = {slo: s["quiet_pages"].get("page", 0) for slo, s in by_slo.items()}
    assert quiet_pages == dict.fromkeys(by_slo, 0), "a page outside any incident"
    burnt = BURNS[name]
    if burnt is None:
        paged = [slo for slo, s in by_slo.items()
                 if any(e["severity"] == "page" for e in s["episodes"])]
        assert paged == [], f"the quiet baseline pages: {paged}"
        return
    incidents = by_slo[burnt]["incidents"]
    assert incidents, f"{name}: no incident for {burnt}"
    assert any(i["detect_s"].get("page") is not None or i["detect_s"].get("ticket") is not None
               for i in incidents), incidents
