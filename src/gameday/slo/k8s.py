"""PrometheusRule manifests (Prometheus Operator) from the same rule groups as slos/_gen/.

One artifact, one more engine: the groups of a ``PrometheusRule`` are exactly the groups of
``slos/_gen/<catalog>/*.rules.yml`` (same order: by service, then SLO), wrapped in a
``monitoring.coreos.com/v1`` manifest with the generated-file header. Without arguments
``python -m gameday.slo.k8s`` writes every target of :data:`TARGETS` (the base manifests
run the production catalog, the drill overlay the compressed one); ``--check`` writes
nothing and exits 1 when a file would change.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gameday.errors import GamedayError, ValidationError
from gameday.slo.names import DRILL_CATALOG

from .model import SLO, Catalog
from .names import GENERATED_HEADER, format_duration
from .rules import build_rule_groups
from .storage import DEFAULT_RUNBOOK_BASE, dump_yaml
from .windows import load_catalog, validate_catalog_fits

API_VERSION = "monitoring.coreos.com/v1"
KIND = "PrometheusRule"
NAME_PREFIX = "gameday-slos"
COMMAND = "gameday slo generate --k8s"
SPEC_DIR = Path("slos")
# Catalog -> manifest it is written to, relative to the repository root.
TARGETS: dict[str, Path] = {
    "google-30d": Path("deploy/k8s/base/prometheusrule-slos.yaml"),
    DRILL_CATALOG: Path("deploy/k8s/overlays/drill/prometheusrule-slos.yaml"),
}
LABELS = {"app.kubernetes.io/part-of": "gameday", "app.kubernetes.io/component": "slo-rules"}


def rule_name(catalog: str) -> str:
    """``gameday-slos-google-30d``: one PrometheusRule per catalog."""
    return f"{NAME_PREFIX}-{catalog}"


def build_prometheus_rule(slos: list[SLO], catalog: Catalog,
                          runbook_base: str = DEFAULT_RUNBOOK_BASE) -> dict:
    """The PrometheusRule object whose groups are those of slos/_gen/<catalog>/*.rules.yml."""
    ordered = sorted(slos, key=lambda s: (s.service, s.name))
    groups = [g for slo in ordered for g in build_rule_groups(slo, catalog, runbook_base)]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": rule_name(catalog.name),
            "labels": {**LABELS, "gameday/slo-catalog": catalog.name},
        },
        "spec": {"groups": groups},
    }


def render_prometheus_rule(slos: list[SLO], catalog: Catalog,
                           runbook_base: str = DEFAULT_RUNBOOK_BASE) -> str:
    """The manifest's text: the do-not-edit header, then the YAML."""
    sources = ", ".join(sorted({Path(s.source).name for s in slos}))
    header = (f"{GENERATED_HEADER}\n# PrometheusRule from {sources} with window catalog "
              f"{catalog.name} (period {format_duration(catalog.period_s)}), the groups of "
              f"slos/_gen/{catalog.name}/*.rules.yml; run '{COMMAND}'.\n")
    return header + dump_yaml(build_prometheus_rule(slos, catalog, runbook_base))


def validate_targets(catalogs: Sequence[str] | None, out: Path | None) -> dict[str, Path]:
    """Catalog -> output file for the arguments, or ValidationError naming the bad one."""
    names = list(catalogs or TARGETS)
    if out is not None:
        if len(names) != 1:
            raise ValidationError(f"--out {out}: needs exactly one --catalog, got "
                                  f"{len(names)} ({', '.join(names)})")
        return {names[0]: out}
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        raise ValidationError(f"--catalog {unknown[0]!r}: no default output for it (known: "
                              f"{', '.join(TARGETS)}); give --out")
    return {n: TARGETS[n] for n in names}


def render_targets(spec_dir: Path, targets: dict[str, Path],
                   runbook_base: str = DEFAULT_RUNBOOK_BASE) -> dict[Path, str]:
    """Output file -> text for every target."""
    from .validate import load_slos

    slos = load_slos([spec_dir])
    rendered = {}
    for name, path in targets.items():
        catalog = load_catalog(spec_dir / "windows", name)
        validate_catalog_fits(slos, catalog)
        rendered[path] = render_prometheus_rule(slos, catalog, runbook_base)
    return rendered


def stale_files(rendered: dict[Path, str]) -> list[Path]:
    """Files whose text differs from what was rendered (or that do not exist)."""
    return [p for p, text in rendered.items()
            if not p.is_file() or p.read_text() != text]


def write_files(rendered: dict[Path, str]) -> list[Path]:
    for path, text in rendered.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)  # never a half-written manifest
    return list(rendered)


def generate_k8s(spec_dir: Path = SPEC_DIR, catalogs: Sequence[str] | None = None,
                 runbook_base: str = DEFAULT_RUNBOOK_BASE, root: Path = Path(".")) -> list[Path]:
    """Write the PrometheusRule of every catalog of ``catalogs`` that has a target (default:
    all of :data:`TARGETS`) under ``root``; for ``gameday slo generate --k8s``."""
    names = [n for n in (catalogs or TARGETS) if n in TARGETS]
    return write_files(render_targets(spec_dir, {n: root / TARGETS[n] for n in names},
                                      runbook_base))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND, description="Write PrometheusRule manifests generated from slos/.")
    parser.add_argument("--catalog", action="append", help="window catalog, repeatable "
                        f"(default: {', '.join(TARGETS)})")
    parser.add_argument("--out", type=Path, help="output file (only with one --catalog)")
    parser.add_argument("--specs", type=Path, default=SPEC_DIR, help="folder of OpenSLO specs")
    parser.add_argument("--runbook-base", default=DEFAULT_RUNBOOK_BASE,
                        help="base of the alerts' runbook_url annotations")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    try:
        targets = validate_targets(args.catalog, args.out)
        rendered = render_targets(args.specs, targets, args.runbook_base)
    except GamedayError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        stale = stale_files(rendered)
        for path in stale:
            print(f"out of date: {path}; run '{COMMAND}'", file=sys.stderr)
        return 1 if stale else 0
    for path in write_files(rendered):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
