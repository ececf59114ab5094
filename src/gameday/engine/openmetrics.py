"""OpenMetrics text to and from gameday recordings, so the same data feeds promtool.

Export (:func:`write_openmetrics`) writes what ``promtool tsdb create-blocks-from
openmetrics`` reads: a ``# TYPE`` line per metric family, then every sample of the family
with its timestamp in seconds, then ``# EOF``. Each scrape also gives an ``up{job,instance,
<target labels>}`` sample (1, or 0 for a failed scrape), as Prometheus would store.

- Families are inferred from names, since a recording keeps no TYPE: ``X_bucket`` (with
  ``X_count``, ``X_sum``) is histogram ``X``; ``X_total`` is counter ``X``; a lone
  ``_count``/``_sum``/``_created`` is ``unknown``; the rest are gauges.
- A family's samples are contiguous (OpenMetrics forbids interleaved families), each sample
  name's samples in time order. The recording is read once; samples are buffered per name and
  spilled to one temporary file per name when the buffer holds ``spill_lines`` lines, then the
  files are concatenated family by family. Memory: the buffer (``spill_lines`` lines, about
  150 bytes each) plus one formatted label string per series; disk: about the size of the
  output, in a temporary folder beside it.
- Timestamps are written at full precision; promtool keeps ``int(t * 1000)`` milliseconds.
- Staleness cannot be expressed: OpenMetrics has no stale marker (a NaN value is a plain
  NaN). A series that ends or a target that fails simply has no more samples, so a
  Prometheus reading the blocks keeps returning its last value for the lookback delta
  (5 minutes) where the embedded store, fed the recording, marks it stale at once. ``up`` is
  0 for a failed scrape in both.

Import (:func:`read_openmetrics`, :func:`import_openmetrics`) reads such text back into
scrapes: samples grouped by (timestamp, job, instance), in time order. A file in family
order is not in time order, so the samples are sorted on disk in runs of ``run_lines``
(bounded memory) and merged. An ``up`` sample gives the target labels and marks a failed
scrape; without one the target counts as up with no labels of its own.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
import statistics
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from gameday.engine.exposition import Sample
from gameday.engine.recording import RecordingWriter, Scrape, read_recording
from gameday.errors import ValidationError

SPILL_LINES = 200_000
RUN_LINES = 50_000  # about 1.5 KiB each while sorted: ~100 MB


@dataclass
class ConvertStats:
    scrapes: int = 0
    samples: int = 0  # up samples included
    series: int = 0
    families: int = 0
    bytes: int = 0
    first_t: float | None = None
    last_t: float | None = None
    interval_s: float | None = None
    types: dict[str, str] = field(default_factory=dict)  # family -> type

    def saw(self, t: float) -> None:
        self.first_t = t if self.first_t is None else min(self.first_t, t)
        self.last_t = t if self.last_t is None else max(self.last_t, t)


# ---------------------------------------------------------------- export

def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_series(name: str, labels: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels) if v != "")
    return f"{name}{{{inner}}}" if inner else name


def families_of(names: Iterable[str]) -> dict[str, tuple[str, list[str]]]:
    """family -> (type, sample names in output order), inferred from the sample names."""
    names = set(names)
    families: dict[str, tuple[str, list[str]]] = {}
    claimed: set[str] = set()
    for name in sorted(names):
        if name.endswith("_bucket"):
            base = name[: -len("_bucket")]
            members = [name] + [base + s for s in ("_count", "_sum") if base + s in names]
            families[base] = ("histogram", members)
            claimed.update(members)
    for name in sorted(names - claimed):
        if name.endswith("_total") and name[: -len("_total")] not in families:
            families[name[: -len("_total")]] = ("counter", [name])
        elif name.endswith(("_count", "_sum", "_created", "_bucket")) or name in families:
            families[name] = ("unknown", [name])
        else:
            families[name] = ("gauge", [name])
    return dict(sorted(families.items()))


class _Spill:
    """Lines kept per sample name: in memory up to a budget, then appended to files."""

    def __init__(self, folder: Path, budget: int) -> None:
        self.folder, self.budget = folder, budget
        self.buffers: dict[str, list[str]] = {}
        self.files: dict[str, Path] = {}
        self.held = 0

    def add(self, name: str, line: str) -> None:
        self.buffers.setdefault(name, []).append(line)
        self.held += 1
        if self.held >= self.budget:
            self.flush()

    def flush(self) -> None:
        for name, lines in self.buffers.items():
            if not lines:
                continue
            path = self.files.setdefault(name, self.folder / f"{len(self.files)}.om")
            with path.open("a", encoding="utf-8") as fh:
                fh.writelines(lines)
            lines.clear()
        self.held = 0

    def names(self) -> set[str]:
        return set(self.buffers) | set(self.files)

    def copy(self, name: str, out: IO[str]) -> int:
        written = 0
        path = self.files.get(name)
        if path is not None:
            with path.open(encoding="utf-8") as fh:
                while chunk := fh.read(1 << 20):
                    written += len(chunk.encode())
                    out.write(chunk)
        for line in self.buffers.get(name, ()):
            written += len(line.encode())
            out.write(line)
        return written


def write_openmetrics(recording: Path, out: Path | IO[str], *, start: float | None = None,
                      end: float | None = None, spill_lines: int = SPILL_LINES,
                      progress=None) -> ConvertStats:
    """Write the scrapes of ``recording`` with ``start <= t <= end`` as OpenMetrics text to
    ``out`` (a path or an open text stream). ``progress(t)`` is called per scrape."""
    _, scrapes = read_recording(recording)
    stats = ConvertStats()
    prefixes: dict[tuple, str] = {}
    beside = Path(out).parent if isinstance(out, (str, Path)) else None  # the same disk
    with tempfile.TemporaryDirectory(prefix=".gameday-om-", dir=beside) as tmp:
        spill = _Spill(Path(tmp), spill_lines)
        for scrape in scrapes:
            if (start is not None and scrape.t < start) or (end is not None and scrape.t > end):
                continue
            stats.scrapes += 1
            stats.saw(scrape.t)
            ts = " " + repr(float(scrape.t)) + "\n"
            target = (("job", scrape.job), ("instance", scrape.instance))
            up_key = ("up", scrape.job, scrape.instance, scrape.target_labels)
            prefix = prefixes.get(up_key)
            if prefix is None:
                prefix = prefixes[up_key] = format_series(
                    "up", [*target, *scrape.target_labels]) + " "
            spill.add("up", prefix + ("0" if scrape.samples is None else "1") + ts)
            stats.samples += 1
            for s in scrape.samples or ():
                key = (s.name, scrape.job, scrape.instance, s.labels)
                prefix = prefixes.get(key)
                if prefix is None:
                    prefix = prefixes[key] = format_series(s.name, [*target, *s.labels]) + " "
                spill.add(s.name, prefix + format_value(s.value) + ts)
                stats.samples += 1
            if progress is not None:
                progress(scrape.t)
        stats.series = len(prefixes)
        families = families_of(spill.names())
        stats.families = len(families)
        stats.types = {f: kind for f, (kind, _) in families.items()}
        if isinstance(out, (str, Path)):
            with open(out, "w", encoding="utf-8") as fh:
                stats.bytes = _write_families(fh, families, spill)
        else:
            stats.bytes = _write_families(out, families, spill)
    return stats


def _write_families(out: IO[str], families: dict, spill: _Spill) -> int:
    written = 0
    for family, (kind, members) in families.items():
        line = f"# TYPE {family} {kind}\n"
        out.write(line)
        written += len(line)
        for name in members:
            written += spill.copy(name, out)
    out.write("# EOF\n")
    return written + len("# EOF\n")


# ---------------------------------------------------------------- import

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+(\S+))?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|\})')
_UNESCAPE = re.compile(r"\\(.)")


def _parse_labels(text: str, where: str) -> list[tuple[str, str]]:
    labels, pos = [], 1
    if text.strip() == "{}":
        return labels
    while pos < len(text):
        m = _LABEL.match(text, pos)
        if m is None:
            raise ValidationError(f"{where}: bad label set {text!r}")
        value = _UNESCAPE.sub(lambda e: "\n" if e.group(1) == "n" else e.group(1), m.group(2))
        labels.append((m.group(1), value))
        pos = m.end()
        if m.group(3) == "}":
            break
    return labels


def parse_sample_line(line: str, where: str) -> tuple[str, list[tuple[str, str]], float, float]:
    """(name, labels, value, timestamp) of one OpenMetrics sample line with a timestamp."""
    m = _SAMPLE.match(line)
    if m is None:
        raise ValidationError(f"{where}: not an OpenMetrics sample line: {line.strip()!r}")
    name, labels, value, ts = m.groups()
    if ts is None:
        raise ValidationError(f"{where}: sample {name!r} has no timestamp; a recording needs "
                              "one on every sample")
    try:
        v = float(value.replace("Inf", "inf"))
        t = float(ts)
    except ValueError:
        raise ValidationError(f"{where}: bad value or timestamp in {line.strip()!r}") from None
    return name, _parse_labels(labels, where) if labels else [], v, t


def _sorted_runs(path: Path, folder: Path, run_lines: int, stats: ConvertStats) -> list[Path]:
    """Parse ``path`` and write its samples as time-sorted runs of JSON lines."""
    runs: list[Path] = []
    batch: list[tuple] = []
    last_t: dict[str, float] = {}
    diffs: list[float] = []
    seen_eof = False

    def spill() -> None:
        batch.sort(key=lambda r: (r[0], r[1], r[2]))
        run = folder / f"run{len(runs)}.jsonl"
        with run.open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in batch)
        runs.append(run)
        batch.clear()

    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if seen_eof and line.strip():
                raise ValidationError(f"{path}: line {n}: text after '# EOF'")
            if line.startswith("#"):
                seen_eof = seen_eof or line.strip() == "# EOF"
                continue
            if not line.strip():
                continue
            name, labels, value, t = parse_sample_line(line, f"{path}: line {n}")
            d = dict(labels)
            job, instance = d.pop("job", ""), d.pop("instance", "")
            if name == "up" and len(diffs) < 10_000:
                key = job + "\0" + instance
                if key in last_t and t > last_t[key]:
                    diffs.append(t - last_t[key])
                last_t[key] = t
            batch.append([t, job, instance, name, sorted(d.items()), format_value(value)])
            stats.samples += 1
            if len(batch) >= run_lines:
                spill()
    if not seen_eof:
        raise ValidationError(f"{path}: no '# EOF' line: the text is cut short")
    if batch:
        spill()
    if diffs:
        stats.interval_s = round(statistics.median(diffs), 3)
    return runs


def _merged(runs: list[Path]) -> Iterator[list]:
    files = [run.open(encoding="utf-8") for run in runs]
    try:
        streams = [(json.loads(line) for line in fh) for fh in files]
        yield from heapq.merge(*streams, key=lambda r: (r[0], r[1], r[2]))
    finally:
        for fh in files:
            fh.close()


def _scrapes(rows: Iterator[list]) -> Iterator[Scrape]:
    key, up, tlabels, samples = None, 1.0, (), []
    for t, job, instance, name, labels, value in rows:
        if (t, job, instance) != key:
            if key is not None:
                yield Scrape(key[0], key[1], key[2], samples if up else None, tlabels)
            key, up, tlabels, samples = (t, job, instance), 1.0, (), []
        v = float(value.replace("Inf", "inf"))
        if name == "up":
            up, tlabels = v, tuple(sorted(map(tuple, labels)))
        else:
            samples.append(Sample(name, tuple(sorted(map(tuple, labels))), v))
    if key is not None:
        yield Scrape(key[0], key[1], key[2], samples if up else None, tlabels)


def read_openmetrics(path: Path, *, run_lines: int = RUN_LINES,
                     stats: ConvertStats | None = None) -> Iterator[Scrape]:
    """The scrapes in an OpenMetrics text file, in time order (see the module docstring)."""
    path = Path(path)
    stats = stats if stats is not None else ConvertStats()
    with tempfile.TemporaryDirectory(prefix="gameday-om-") as tmp:
        runs = _sorted_runs(path, Path(tmp), run_lines, stats)
        for scrape in _scrapes(_merged(runs)):
            stats.scrapes += 1
            stats.saw(scrape.t)
            yield scrape


def import_openmetrics(path: Path, out: Path, *, interval_s: float | None = None,
                       run_lines: int = RUN_LINES) -> ConvertStats:
    """Write the OpenMetrics text file ``path`` as a gameday recording ``out``."""
    path = Path(path)
    stats = ConvertStats()
    scrapes = read_openmetrics(path, run_lines=run_lines, stats=stats)
    first = next(scrapes, None)
    if first is None:
        raise ValidationError(f"{path}: no samples")
    interval = interval_s or stats.interval_s or 1.0
    stats.interval_s = interval
    provenance = {"recorded": False, "stitched": False, "imported": True,
                  "source": path.name, "sha256": file_sha256(path)}
    writer = RecordingWriter(out, first.t, interval, extra={"provenance": provenance},
                             flush_each=False)
    targets: dict[tuple[str, str], tuple] = {}
    try:
        for scrape in _chain(first, scrapes):
            tl = targets.setdefault((scrape.job, scrape.instance), scrape.target_labels)
            writer.write_scrape(scrape.t, scrape.job, scrape.instance, dict(tl), scrape.samples)
    finally:
        writer.close()
    return stats


def _chain(first: Scrape, rest: Iterator[Scrape]) -> Iterator[Scrape]:
    yield first
    yield from rest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
