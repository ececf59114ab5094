from pathlib import Path

import pytest

from gameday.errors import ValidationError
from gameday.slo.windows import list_catalogs, load_catalog, validate_catalog

WINDOWS = Path(__file__).resolve().parents[2] / "slos" / "windows"


def _summary(name):
    cat = load_catalog(WINDOWS, name)
    return [(a.severity, a.factor, a.long_s, a.short_s) for a in cat.alerts]


def test_catalogs_shipped():
    assert list_catalogs(WINDOWS) == ["drill-12h", "google-30d"]


def test_google_factors_follow_budget_fractions():
    # factor = budget fraction x period / long window (SRE Workbook, "Alerting on SLOs")
    assert _summary("google-30d") == [
        ("page", 14.4, 3600, 300), ("page", 6.0, 21600, 1800),
        ("ticket", 3.0, 86400, 7200), ("ticket", 1.0, 259200, 21600),
    ]


def test_drill_catalog_compresses_time_with_same_factors():
    google = load_catalog(WINDOWS, "google-30d")
    drill = load_catalog(WINDOWS, "drill-12h")
    assert drill.scale == pytest.approx(1 / 60)
    assert [a.factor for a in drill.alerts] == [a.factor for a in google.alerts]
    for g, d in zip(google.alerts, drill.alerts, strict=True):
        assert d.long_s == g.long_s / 60 and d.short_s == g.short_s / 60
        assert d.budget_fraction == g.budget_fraction


def test_catalog_short_must_be_shorter():
    raw = {"name": "x", "source": "s", "slo_period": "30d", "period": "30d",
           "alerts": [{"severity": "page", "budget_fraction": 0.02, "long": "5m", "short": "1h"}]}
    with pytest.raises(ValidationError) as err:
        validate_catalog(raw, "w.yaml")
    assert str(err.value) == "w.yaml: alerts[0].short must be shorter than long, got '1h' and '5m'"
