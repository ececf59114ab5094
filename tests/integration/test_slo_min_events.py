"""Ticket alerts need MIN_TICKET_EVENTS events in their long window (slos/README.md,
"Minimum events"): a few noisy canaries open no ticket, the same error ratio over enough
canaries does. Checked with promtool on the generated drill rules of the quality SLO."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from gameday.slo.rules import MIN_TICKET_EVENTS, alert_expr
from gameday.slo.validate import load_slos
from gameday.slo.windows import load_catalog
from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT / "slos" / "_gen" / "drill-12h"
ALERT = "ClassifierPredictionQualityBudgetBurn"


def ticket_annotations() -> dict:
    groups = yaml.safe_load((GEN / "classifier.rules.yml").read_text())["groups"]
    return next(r["annotations"] for g in groups for r in g["rules"]
                if r.get("alert") == ALERT and r["labels"]["sloth_severity"] == "ticket")


def case(name: str, per_s: float, wrong: float, fires: bool) -> dict:
    """60 s of ``per_s`` labelled predictions a second, ``wrong`` of them incorrect."""
    bad, good = per_s * wrong, per_s * (1 - wrong)
    labels = {"sloth_id": "classifier-classifier-prediction-quality",
              "sloth_service": "classifier", "sloth_slo": "classifier-prediction-quality",
              "sloth_severity": "ticket"}
    return {
        "name": name, "interval": "1s",
        "input_series": [
            {"series": 'model_predictions_total{model="classifier",outcome="incorrect"}',
             "values": f"0+{bad:g}x60"},
            {"series": 'model_predictions_total{model="classifier",outcome="correct"}',
             "values": f"0+{good:g}x60"}],
        "alert_rule_test": [{"eval_time": "1m", "alertname": ALERT,
                             "exp_alerts": [{"exp_labels": labels,
                                             "exp_annotations": ticket_annotations()}]
                             if fires else []}],
    }


def test_tickets_carry_the_guard_and_pages_do_not():
    slos = {s.name: s for s in load_slos([ROOT / "slos"])}
    catalog = load_catalog(ROOT / "slos" / "windows", "drill-12h")
    avail = slos["gateway-availability"]
    ticket = alert_expr(avail, catalog, "ticket")
    assert ticket.count(f">= {MIN_TICKET_EVENTS})") == 2
    assert "[24m])) * 1440 >=" in ticket and "[72m])) * 4320 >=" in ticket
    assert ">= " not in alert_expr(avail, catalog, "page")


def test_few_noisy_canaries_open_no_ticket_and_enough_do(tmp_path):
    promtool = require_binary("promtool")
    # 40% wrong: above the 15% threshold of the 6m/72m pair, below 45% (the 2m/24m pair).
    # 60 s at 5/s is 300 canaries (< 500): quiet; at 10/s, 600: a ticket.
    tests = {"rule_files": ["classifier.rules.yml"], "evaluation_interval": "1s",
             "group_eval_order": [
                 "sloth-slo-sli-recordings-classifier-classifier-prediction-quality",
                 "sloth-slo-meta-recordings-classifier-classifier-prediction-quality",
                 "sloth-slo-alerts-classifier-classifier-prediction-quality"],
             "tests": [case("300 canaries: no ticket", 5, 0.4, fires=False),
                       case("600 canaries: a ticket", 10, 0.4, fires=True)]}
    shutil.copy(GEN / "classifier.rules.yml", tmp_path)
    (tmp_path / "min-events.test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", "min-events.test.yml"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
