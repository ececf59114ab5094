"""Read OpenSLO v1 YAML documents (multi-document files allowed) and metric selectors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gameday.errors import ValidationError

from .model import Matcher, Selector

API_VERSION = "openslo/v1"
KINDS = ("SLO", "SLI", "Service", "DataSource", "AlertPolicy", "AlertCondition",
         "AlertNotificationTarget")


@dataclass(frozen=True)
class Document:
    source: str  # file name as given
    kind: str
    name: str
    spec: dict
    metadata: dict


def find_spec_files(paths: list[Path]) -> list[Path]:
    """YAML files under ``paths`` (files or folders); folders skip windows/ and _gen/."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.glob("*.y*ml") if p.is_file()))
        elif path.exists():
            found.append(path)
        else:
            raise ValidationError(f"{path}: no such file or folder")
    return found


def load_documents(path: Path) -> list[Document]:
    from gameday.userfiles import load_yaml_documents

    raw = load_yaml_documents(path, "spec")
    docs = []
    for i, doc in enumerate(d for d in raw if d is not None):
        where = f"{path}: document {i + 1}"
        if not isinstance(doc, dict):
            raise ValidationError(f"{where}: must be a mapping, got {type(doc).__name__}")
        if doc.get("apiVersion") != API_VERSION:
            raise ValidationError(
                f"{where}: apiVersion must be {API_VERSION!r}, got {doc.get('apiVersion')!r}")
        kind = doc.get("kind")
        if kind not in KINDS:
            raise ValidationError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        metadata = doc.get("metadata") or {}
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name):
            raise ValidationError(
                f"{where}: metadata.name must be lowercase letters, digits and '-', got {name!r}")
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            raise ValidationError(f"{where}: {kind.lower()} {name!r}: spec must be a mapping")
        docs.append(Document(str(path), kind, name, spec, metadata))
    return docs


_SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$", re.S)
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_selector(text: object, where: str) -> Selector:
    """``name{a="b",c=~"5.."}`` -> Selector; anything else (functions, ranges) is refused."""
    match = _SELECTOR.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(f"{where} must be a metric selector like "
                              f"name{{label=\"value\"}}, got {text!r}")
    metric, body = match.group(1), match.group(2) or ""
    matchers, pos = [], 0
    while body[pos:].strip():
        m = _MATCHER.match(body, pos)
        if m is None:
            raise ValidationError(f"{where} has a bad label matcher at {body[pos:].strip()!r}, "
                                  f"in {text!r}")
        value = re.sub(r"\\(.)", r"\1", m.group(3))
        if m.group(2) in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as err:
                raise ValidationError(f"{where} has a bad regex {value!r}: {err}") from None
        matchers.append(Matcher(m.group(1), m.group(2), value))
        pos = m.end()
    return Selector(metric, tuple(matchers))


def matches(matcher: Matcher, value: str) -> bool:
    """Prometheus semantics: regexes are anchored; a missing label is the empty string."""
    if matcher.op == "=":
        return value == matcher.value
    if matcher.op == "!=":
        return value != matcher.value
    found = re.fullmatch(matcher.value, value) is not None
    return found if matcher.op == "=~" else not found
