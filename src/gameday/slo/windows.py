"""Burn-rate window catalogs: tunable policy kept as data in slos/windows/<name>.yaml.

A catalog lists, per alert, the severity, the share of the period's error budget it spends
before firing, and its long and short windows. The burn-rate factor follows:
factor = budget fraction x period / long window (2% of 30 days over 1 hour: 14.4).
"""

from __future__ import annotations

from pathlib import Path

from gameday.errors import NotFoundError, ValidationError
from gameday.userfiles import load_yaml_documents

from .model import SLO, BurnAlert, Catalog
from .names import SEVERITIES, format_duration, parse_duration

DEFAULT_CATALOG = "google-30d"


def catalog_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.yaml"


def list_catalogs(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_catalog(folder: Path, name: str) -> Catalog:
    path = catalog_path(folder, name)
    if not path.is_file():
        known = ", ".join(list_catalogs(folder)) or "none"
        raise NotFoundError(f"no window catalog {name!r} in {folder} (known: {known})")
    docs = load_yaml_documents(path, "window catalog")  # bounded; one error naming the file
    return validate_catalog(docs[0] if len(docs) == 1 else docs, str(path))


def validate_catalog(raw: object, where: str) -> Catalog:
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}: must be a mapping")
    for key in ("name", "source", "slo_period", "period", "alerts"):
        if key not in raw:
            raise ValidationError(f"{where}: missing field {key!r}")
    slo_period = parse_duration(raw["slo_period"], f"{where}: slo_period")
    period = parse_duration(raw["period"], f"{where}: period")
    if not isinstance(raw["alerts"], list) or not raw["alerts"]:
        raise ValidationError(f"{where}: alerts must be a non-empty list")
    alerts = []
    for i, item in enumerate(raw["alerts"]):
        at = f"{where}: alerts[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(f"{at} must be a mapping")
        severity = item.get("severity")
        if severity not in SEVERITIES:
            raise ValidationError(f"{at}.severity must be page or ticket, got {severity!r}")
        fraction = item.get("budget_fraction")
        if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ValidationError(f"{at}.budget_fraction must be in (0, 1], got {fraction!r}")
        long_s = parse_duration(item.get("long"), f"{at}.long")
        short_s = parse_duration(item.get("short"), f"{at}.short")
        if short_s >= long_s:
            raise ValidationError(f"{at}.short must be shorter than long, got "
                                  f"{item.get('short')!r} and {item.get('long')!r}")
        if long_s > period:
            raise ValidationError(f"{at}.long must not exceed the period, got {item['long']!r}")
        factor = round(fraction * period / long_s, 9)
        alerts.append(BurnAlert(severity, float(fraction), long_s, short_s, factor))
    return Catalog(str(raw["name"]), str(raw["source"]), slo_period, period, tuple(alerts))


def validate_catalog_fits(slos: list[SLO], catalog: Catalog) -> None:
    for slo in slos:
        if slo.period_s != catalog.slo_period_s:
            raise ValidationError(
                f"{slo.source}: slo {slo.name!r}: timeWindow[0].duration "
                f"{format_duration(slo.period_s)} does not match window catalog "
                f"{catalog.name!r}, which is for {format_duration(catalog.slo_period_s)} SLOs")


def collect_catalog_errors(folder: Path, slos: list[SLO]) -> list[str]:
    """Errors of every catalog in ``folder`` and of SLOs whose period none of them fits."""
    errors = []
    for name in list_catalogs(folder):
        try:
            validate_catalog_fits(slos, load_catalog(folder, name))
        except (ValidationError, NotFoundError) as err:
            errors.append(str(err))
    return errors
