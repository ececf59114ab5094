"""Write generated rule and test files: slos/_gen/<catalog>/<service>.{rules,test}.yml."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import yaml

from .model import SLO, Catalog
from .names import GENERATED_HEADER, format_duration
from .promtests import build_tests
from .rules import build_rule_groups
from .windows import validate_catalog_fits

DEFAULT_RUNBOOK_BASE = "runbooks"


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:  # no &id001 anchors in rule files
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: object) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=4096, allow_unicode=True)


def _header(catalog: Catalog, slos: list[SLO], what: str) -> str:
    sources = ", ".join(sorted({Path(s.source).name for s in slos}))
    return (f"{GENERATED_HEADER}\n# {what} from {sources} with window catalog {catalog.name} "
            f"(period {format_duration(catalog.period_s)}); run 'gameday slo generate'.\n")


def render_files(slos: list[SLO], catalog: Catalog,
                 runbook_base: str = DEFAULT_RUNBOOK_BASE) -> dict[str, str]:
    """File name (relative to the catalog's folder) -> text, for every service."""
    by_service: dict[str, list[SLO]] = defaultdict(list)
    for slo in sorted(slos, key=lambda s: (s.service, s.name)):
        by_service[slo.service].append(slo)
    files = {}
    for service, group in by_service.items():
        rules_name = f"{service}.rules.yml"
        groups = [g for slo in group for g in build_rule_groups(slo, catalog, runbook_base)]
        files[rules_name] = (_header(catalog, group, "Prometheus rules")
                             + dump_yaml({"groups": groups}))
        step = catalog.windows()[0] / 5
        # promtool evaluates groups in random (Go map) order unless told; recording
        # groups must run before the alerts that read them, as the embedded engine does.
        order = [g["name"] for g in groups]
        tests = {
            "rule_files": [rules_name],
            "evaluation_interval": format_duration(step),
            "group_eval_order": order,
            "tests": [t for slo in group for t in build_tests(slo, catalog, runbook_base)],
        }
        files[f"{service}.test.yml"] = (_header(catalog, group, "promtool unit tests")
                                        + dump_yaml(tests))
    return files


def write_files(folder: Path, files: dict[str, str]) -> list[Path]:
    """Replace the generated files of ``folder`` with ``files``."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yml"):
        if old.name not in files and old.read_text().startswith(GENERATED_HEADER):
            old.unlink()
    # Every file is written in full to a temp file first (a full disk fails here, with the
    # old files untouched), then each is renamed over its old self: never a half-written file.
    temps = {folder / name: folder / f".{name}.tmp" for name in files}
    try:
        for tmp, text in zip(temps.values(), files.values(), strict=True):
            tmp.write_text(text)
        for path, tmp in temps.items():
            tmp.replace(path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    return list(temps)


def generate(spec_dir: Path, out_dir: Path, catalogs: list[str] | None = None,
             runbook_base: str = DEFAULT_RUNBOOK_BASE) -> list[Path]:
    """Regenerate ``out_dir/<catalog>/`` for ``catalogs`` (default: every catalog)."""
    from .validate import load_slos
    from .windows import list_catalogs, load_catalog

    windows = spec_dir / "windows"
    slos = load_slos([spec_dir])
    written = []
    for name in catalogs or list_catalogs(windows):
        catalog = load_catalog(windows, name)
        validate_catalog_fits(slos, catalog)
        written += write_files(out_dir / name, render_files(slos, catalog, runbook_base))
    return written
