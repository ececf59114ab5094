"""Recordings: every scrape of a run, on disk, replayable into a sample store.

Format (version 1): a gzip-compressed file of JSON lines, written append-only and flushed
per scrape so a killed run still leaves a readable recording up to its last scrape.

- First line, the header:
  ``{"kind": "gameday-recording", "version": 1, "started_at": <unix s>, "interval_s": 1.0}``;
  optional fields a reader may ignore: ``"provenance"`` (how the recording was made when it
  is not a plain recording of a run: stitched from segments, imported from OpenMetrics; see
  docs/recordings.md). A plain recording's header has none of them.
- A target, the first time it is scraped:
  ``{"target": <int id>, "job": "gateway", "instance": "127.0.0.1:8080",
  "labels": {"replica": "0"}}``
- A series, the first time it is seen: ``{"series": <int id>, "labels": {"__name__": ...,
  "job": ..., "instance": ..., ...}}`` (the full label set as stored)
- A scrape: ``{"t": <unix s>, "scrape": <target id>, "up": 1, "v": [[<series id>, <value>],
  ...]}``; values that are not finite are written as the strings "NaN", "+Inf", "-Inf".
  ``up: 0`` (a failed scrape) carries no values and makes the target's series stale.

Replaying the lines in order through ``SampleStore.ingest`` / ``mark_target_down``
reproduces the store exactly, staleness included.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gameday.engine.exposition import Sample
from gameday.engine.store import Labels, SampleStore, make_labels
from gameday.errors import ValidationError

KIND = "gameday-recording"
VERSION = 1


def _encode(value: float):
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def decode_value(value) -> float:
    """A recorded value: a number, or "NaN", "+Inf", "-Inf" for the ones JSON lacks."""
    return float(value) if not isinstance(value, str) else float(value.replace("Inf", "inf"))


class RecordingWriter:
    def __init__(self, path: Path, started_at: float, interval_s: float,
                 extra: dict | None = None, flush_each: bool = True) -> None:
        """``flush_each``: flush after every scrape (a live run, so a kill loses nothing);
        off for files made in one go (stitch, import), which then compress far better."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = gzip.open(self.path, "wt", encoding="utf-8")
        self._flush_each = flush_each
        self._targets: dict[tuple[str, str], int] = {}
        self._series: dict[Labels, int] = {}
        self._known: dict[tuple, int] = {}  # (target, name, labels) -> series id, no merging
        self._line({"kind": KIND, "version": VERSION, "started_at": started_at,
                    "interval_s": interval_s, **(extra or {})})

    def _line(self, obj: dict) -> None:
        self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def write_scrape(self, t: float, job: str, instance: str, target_labels: dict,
                     samples: list[Sample] | None) -> None:
        """One scrape of one target; ``samples`` None means the scrape failed."""
        key = (job, instance)
        tid = self._targets.get(key)
        if tid is None:
            tid = self._targets[key] = len(self._targets)
            self._line({"target": tid, "job": job, "instance": instance,
                        "labels": target_labels})
        if samples is None:
            self._line({"t": t, "scrape": tid, "up": 0})
        else:
            values = []
            for s in samples:
                sid = self._known.get((key, s.name, s.labels))
                if sid is None:  # first time of this sample on this target
                    full = stored_labels(s, job, instance)
                    sid = self._series.get(full)
                    if sid is None:
                        sid = self._series[full] = len(self._series)
                        self._line({"series": sid, "labels": dict(full)})
                    self._known[(key, s.name, s.labels)] = sid
                values.append([sid, _encode(s.value)])
            self._line({"t": t, "scrape": tid, "up": 1, "v": values})
        if self._flush_each:
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def stored_labels(sample: Sample, job: str, instance: str) -> Labels:
    """The label set the store keeps for a scraped sample (target labels already merged)."""
    return make_labels([*sample.labels, ("__name__", sample.name), ("job", job),
                        ("instance", instance)])


@dataclass
class Scrape:
    t: float
    job: str
    instance: str
    samples: list[Sample] | None  # None: the scrape failed; target labels already merged
    target_labels: tuple[tuple[str, str], ...] = ()


def check_header(path: Path, header) -> None:
    """A ValidationError unless ``header`` is a recording's first line, this version."""
    if not isinstance(header, dict) or header.get("kind") != KIND \
            or header.get("version") != VERSION:
        got = header if not isinstance(header, dict) else header.get("kind")
        version = header.get("version") if isinstance(header, dict) else None
        raise ValidationError(f"{path}: field 'kind'/'version': expected {KIND} v{VERSION}, "
                              f"got {got!r} v{version!r}")


def read_recording(path: Path) -> tuple[dict, Iterator[Scrape]]:
    """The header and the scrapes of a recording, in order."""
    path = Path(path)
    try:
        fh = gzip.open(path, "rt", encoding="utf-8")
        header = json.loads(fh.readline())
    except (OSError, ValueError) as err:
        raise ValidationError(f"{path}: not a gameday recording ({err})") from None
    check_header(path, header)

    def scrapes() -> Iterator[Scrape]:
        with fh:
            yield from _decode_lines(path, _safe_lines(fh))

    return header, scrapes()


def _decode_lines(path: Path, lines: Iterator[str]) -> Iterator[Scrape]:
    targets: dict[int, tuple[str, str, tuple]] = {}
    series: dict[int, Labels] = {}
    for n, line in enumerate(lines, start=2):
        try:
            obj = json.loads(line)
        except ValueError:
            if not line.endswith("\n"):
                return  # a run killed mid-line: the rest is lost, the start is good
            raise ValidationError(f"{path}: line {n}: not JSON") from None
        if "series" in obj:
            series[obj["series"]] = tuple(sorted(obj["labels"].items()))
        elif "target" in obj:
            targets[obj["target"]] = (obj["job"], obj["instance"],
                                      tuple(sorted(obj.get("labels", {}).items())))
        elif "scrape" in obj:
            job, instance, tlabels = targets[obj["scrape"]]
            samples = None
            if obj["up"]:
                samples = []
                for sid, value in obj["v"]:
                    labels = dict(series[sid])
                    name = labels.pop("__name__")
                    labels.pop("job", None)
                    labels.pop("instance", None)
                    samples.append(Sample(name, tuple(sorted(labels.items())), decode_value(value)))
            yield Scrape(obj["t"], job, instance, samples, tlabels)


def _safe_lines(fh) -> Iterator[str]:
    """Lines of a gzip stream; a stream cut short (a killed run) ends at its last full line."""
    while True:
        try:
            line = fh.readline()
        except EOFError:
            return
        if not line:
            return
        yield line


def replay(path: Path, store: SampleStore, until: float | None = None) -> dict:
    """Feed a recording into ``store`` (up to ``until``); returns the header."""
    header, scrapes = read_recording(path)
    for scrape in scrapes:
        if until is not None and scrape.t > until:
            break
        ingest_scrape(store, scrape)
    return header


def ingest_scrape(store: SampleStore, scrape: Scrape) -> None:
    up = 0.0 if scrape.samples is None else 1.0
    store.append(make_labels([("__name__", "up"), ("instance", scrape.instance),
                              ("job", scrape.job), *scrape.target_labels]), scrape.t, up)
    if scrape.samples is None:
        store.mark_target_down(scrape.job, scrape.instance, scrape.t)
    else:
        store.ingest(scrape.samples, scrape.t, scrape.job, scrape.instance)


def describe_recording(path: Path) -> dict:
    """What a recording holds, read in one pass: span, interval, targets, series, samples,
    failed scrapes, the header's provenance and the file size."""
    path = Path(path)
    header, scrapes = read_recording(path)
    targets: dict[tuple[str, str], int] = {}
    series: set[tuple] = set()
    first = last = None
    count = samples = failed = 0
    for scrape in scrapes:
        count += 1
        first = scrape.t if first is None else min(first, scrape.t)
        last = scrape.t if last is None else max(last, scrape.t)
        key = (scrape.job, scrape.instance)
        targets[key] = targets.get(key, 0) + 1
        if scrape.samples is None:
            failed += 1
            continue
        samples += len(scrape.samples)
        series.update((key, s.name, s.labels) for s in scrape.samples)
    return {"path": str(path), "bytes": path.stat().st_size,
            "started_at": header.get("started_at"), "interval_s": header.get("interval_s"),
            "first_t": first, "last_t": last,
            "duration_s": (last - first) if first is not None else 0.0,
            "scrapes": count, "failed_scrapes": failed, "samples": samples,
            "series": len(series),
            "targets": [{"job": j, "instance": i, "scrapes": n}
                        for (j, i), n in sorted(targets.items())],
            "provenance": header.get("provenance")}
