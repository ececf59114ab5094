"""Locust's output files, read without importing Locust: the stats history CSV (one
``Aggregated`` row a second, read as it grows), the final stats CSV and the JSON file."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Progress:
    """One row of ``<prefix>_stats_history.csv``: the state of the run at ``timestamp``."""

    timestamp: float
    users: int
    rps: float
    failures_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    requests: int
    failures: int


@dataclass(frozen=True)
class EntryStats:
    """One row of ``<prefix>_stats.csv`` (``name`` is ``Aggregated`` for the total)."""

    method: str
    name: str
    requests: int
    failures: int
    median_ms: float | None
    average_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    rps: float

    def as_dict(self) -> dict:
        return asdict(self)


def _num(text: str | None) -> float | None:
    if text in (None, "", "N/A"):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def parse_history(text: str) -> list[Progress]:
    """The ``Aggregated`` rows of a stats history CSV; a half-written last line is skipped."""
    rows = []
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]
    for row in csv.DictReader(io.StringIO("".join(lines))):
        if row.get("Name") != "Aggregated":
            continue
        try:
            rows.append(Progress(
                timestamp=float(row["Timestamp"]), users=int(row["User Count"]),
                rps=_num(row["Requests/s"]) or 0.0, failures_per_s=_num(row["Failures/s"]) or 0.0,
                p50_ms=_num(row.get("50%")), p95_ms=_num(row.get("95%")),
                p99_ms=_num(row.get("99%")), requests=int(row["Total Request Count"]),
                failures=int(row["Total Failure Count"])))
        except (KeyError, TypeError, ValueError):
            continue
    return rows


def read_history(path: Path) -> list[Progress]:
    try:
        return parse_history(path.read_text())
    except OSError:
        return []


def parse_stats_csv(text: str) -> list[EntryStats]:
    entries = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            entries.append(EntryStats(
                method=row.get("Type") or "", name=row["Name"],
                requests=int(row["Request Count"]), failures=int(row["Failure Count"]),
                median_ms=_num(row.get("Median Response Time")),
                average_ms=_num(row.get("Average Response Time")),
                p95_ms=_num(row.get("95%")), p99_ms=_num(row.get("99%")),
                max_ms=_num(row.get("Max Response Time")),
                rps=_num(row.get("Requests/s")) or 0.0))
        except (KeyError, TypeError, ValueError):
            continue
    return entries


def read_stats_csv(path: Path) -> list[EntryStats]:
    try:
        return parse_stats_csv(path.read_text())
    except OSError:
        return []


def read_stats_json(path: Path) -> list[dict]:
    """Locust's ``--json-file`` output: one object per request entry."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def summarize(entries: list[EntryStats]) -> dict:
    """``{"total": {...}, "entries": [...]}`` for JSON output and the chaos extension."""
    total = next((e for e in entries if e.name == "Aggregated"), None)
    return {"total": total.as_dict() if total else None,
            "entries": [e.as_dict() for e in entries if e.name != "Aggregated"]}
