"""Stitching: a long recording built from recorded segments on a timeline a plan describes.

A plan (YAML)::

    interval: 15s                  # the output's scrape interval (15s production, 1s drill)
    start: 2026-01-05T00:00:00Z    # ISO 8601 with a zone, or unix seconds
    segments:
      - recording: quiet-baseline  # a name (recordings/<name>.jsonl.gz) or a path
        slice: [10s, 70s]          # optional: from/to, offsets from its first scrape
        repeat_for: 6h             # optional: loop the (sliced) segment for this long
      - recording: ./incident.jsonl.gz
    keep_instances: false          # optional: see below

Paths are relative to the plan's folder, then to the working directory.

Resampling: the output has a scrape of every target at every tick ``start + k * interval``;
each takes the target's source scrape at or before the tick's source time plus half a
source interval (targets are scraped a few ms apart in one cycle; a failed scrape stays
failed). A target whose last source scrape is older than two source intervals gets no
scrape, so its series go stale as they would live.

Counters (names ending ``_total``, ``_count``, ``_sum``, ``_bucket``) continue across joins
(segment boundaries and loops): at a series' first sample after a join an offset is set so it
carries on from its last output value plus the mean step of the pass before (what happened
between the end of one pass and the start of the next was never recorded; a step of 0 would
lower the rate by one tick per pass, a quarter of it for a 60 s loop at 15 s). Inside a
pass a drop of the source value is a real reset (a process restarted): the offset goes back
to 0 and the output drops to the source value, as Prometheus expects of a restart. Other
series (gauges) are copied as they are. Series found in only some segments appear and
disappear (stale between).

Targets are matched across segments by job and target labels (``replica``): each takes the
``instance`` of the first segment where it appeared, so that counters from two runs (which
listened on other ports) continue as one series; ``keep_instances: true`` keeps the
recorded instances.

Streaming: memory is one latest scrape per target and a few floats per series, whatever the
duration; a looped segment of at most CACHE_SAMPLES samples is held in memory (bounded by the
segment, not by how long it loops), a longer one is re-read on every pass. The output
header carries ``provenance``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from gameday import resources
from gameday.durations import parse_duration
from gameday.engine.exposition import Sample
from gameday.engine.openmetrics import file_sha256
from gameday.engine.recording import RecordingWriter, Scrape, read_recording
from gameday.errors import ValidationError
from gameday.userfiles import load_yaml_documents, write_into_place

COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
CACHE_SAMPLES = 300_000  # a looped segment up to this size is read once, not once a pass
PLAN_FIELDS = {"interval", "start", "segments", "keep_instances"}
SEGMENT_FIELDS = {"recording", "slice", "repeat_for"}


@dataclass
class Segment:
    source: str  # as the plan names it
    path: Path
    sha256: str
    src_from: float  # source times (unix s) of the part used: [src_from, src_to)
    src_to: float
    src_interval: float
    passes: int
    out_from: float = 0.0  # output times of the segment: [out_from, out_to)
    out_to: float = 0.0


@dataclass
class Plan:
    path: Path
    interval: float
    start: float
    segments: list[Segment]
    keep_instances: bool = False

    @property
    def end(self) -> float:
        return self.segments[-1].out_to

    def provenance(self) -> dict:
        return {"recorded": False, "stitched": True, "plan": self.path.name,
                "interval_s": self.interval,
                "segments": [{"source": s.source, "sha256": s.sha256,
                              "source_from": round(s.src_from, 6),
                              "source_to": round(s.src_to, 6),
                              "from": round(s.out_from, 6), "to": round(s.out_to, 6),
                              "repeat": s.passes}
                             for s in self.segments]}


@dataclass
class StitchStats:
    scrapes: int = 0
    samples: int = 0
    series: int = 0
    resets: int = 0  # counter resets written (source restarts, once per pass)


# ---------------------------------------------------------------- validation

def _offset(value, where: str) -> float:
    if value in (0, "0", "0s"):
        return 0.0
    return parse_duration(str(value), where)


def _start(value, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        stamp = value
    else:
        try:
            stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{where}: not a time, got {value!r}; use ISO 8601 with a "
                                  "zone (2026-01-05T00:00:00Z) or unix seconds") from None
    if stamp.tzinfo is None:
        raise ValidationError(f"{where}: the time needs a zone (Z or +01:00), got {value!r}")
    return stamp.timestamp()


def _span(path: Path, where: str) -> tuple[float, float, float]:
    """First and last scrape time of a recording, and its interval."""
    header, scrapes = read_recording(path)
    first = last = None
    for scrape in scrapes:
        first = scrape.t if first is None else min(first, scrape.t)
        last = scrape.t if last is None else max(last, scrape.t)
    if first is None:
        raise ValidationError(f"{where}: recording {path} has no scrapes")
    interval = header.get("interval_s")
    if not isinstance(interval, (int, float)) or interval <= 0:
        raise ValidationError(f"{path}: header field 'interval_s': must be above zero, "
                              f"got {interval!r}")
    return first, last, float(interval)


def _find(name, plan_path: Path, where: str) -> Path:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{where}: must name a recording, got {name!r}")
    beside = plan_path.parent / name
    if beside.is_file():
        return beside
    try:
        return resources.find_recording(name)
    except ValidationError as err:
        raise ValidationError(f"{where}: {err}") from None


def validate_plan(path: Path) -> Plan:
    """Read and check a plan; every error names the file, the field and the value."""
    path = Path(path)
    docs = load_yaml_documents(path, "stitching plan")
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ValidationError(f"{path}: a stitching plan is one YAML mapping with interval, "
                              "start and segments")
    doc = docs[0]
    unknown = sorted(set(map(str, doc)) - PLAN_FIELDS)
    if unknown:
        raise ValidationError(f"{path}: unknown field {unknown[0]!r}; the fields are "
                              f"{', '.join(sorted(PLAN_FIELDS))}")
    for key in ("interval", "start", "segments"):
        if key not in doc:
            raise ValidationError(f"{path}: field {key!r} is missing")
    interval = parse_duration(str(doc["interval"]), f"{path}: field 'interval'")
    start = _start(doc["start"], f"{path}: field 'start'")
    keep = doc.get("keep_instances", False)
    if not isinstance(keep, bool):
        raise ValidationError(f"{path}: field 'keep_instances': must be true or false, "
                              f"got {keep!r}")
    items = doc["segments"]
    if not isinstance(items, list) or not items:
        raise ValidationError(f"{path}: field 'segments': must be a non-empty list, "
                              f"got {items!r}")
    segments, cursor, spans = [], start, {}
    for i, item in enumerate(items):
        where = f"{path}: segments[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(f"{where}: must be a mapping with 'recording', got {item!r}")
        unknown = sorted(set(map(str, item)) - SEGMENT_FIELDS)
        if unknown:
            raise ValidationError(f"{where}: unknown field {unknown[0]!r}; the fields are "
                                  f"{', '.join(sorted(SEGMENT_FIELDS))}")
        source = _find(item.get("recording"), path, f"{where}.recording")
        key = source.resolve()
        if key not in spans:
            spans[key] = (*_span(source, f"{where}.recording"), file_sha256(source))
        first, last, src_interval, digest = spans[key]
        # the whole recording: its scrapes on its own grid (targets scraped a few ms apart)
        src_from = first
        src_to = first + (round((last - first) / src_interval) + 1) * src_interval
        if "slice" in item:
            cut = item["slice"]
            if not isinstance(cut, list) or len(cut) != 2:
                raise ValidationError(f"{where}.slice: must be [from, to], got {cut!r}")
            a = _offset(cut[0], f"{where}.slice[0]")
            b = _offset(cut[1], f"{where}.slice[1]")
            length = src_to - first
            if a >= b:
                raise ValidationError(f"{where}.slice: from must be before to, got {cut!r}")
            if b > length + 1e-9:
                raise ValidationError(f"{where}.slice[1]: {cut[1]!r} is past the end of "
                                      f"{item['recording']} ({round(length, 1):g}s long)")
            src_from, src_to = first + a, first + b
        length = src_to - src_from
        passes, span = 1, length
        if "repeat_for" in item:
            span = parse_duration(str(item["repeat_for"]), f"{where}.repeat_for")
            passes = math.ceil(span / length - 1e-9)
        segments.append(Segment(str(item["recording"]), source, digest, src_from, src_to,
                                src_interval, passes, cursor, cursor + span))
        cursor += span
    return Plan(path, interval, start, segments, keep)


# ---------------------------------------------------------------- running

@dataclass
class _Counters:
    """Per series: [offset, last source value, last output value, pass of the last sample,
    first source value of this pass (or since its reset), samples since then, step at the
    last join]."""
    state: dict[tuple, list] = field(default_factory=dict)
    resets: int = 0
    seen: set[tuple] = field(default_factory=set)  # every series written, gauges too

    def value(self, key: tuple, v: float, pass_id: int) -> float:
        st = self.state.get(key)
        if st is None:
            self.state[key] = [0.0, v, v, pass_id, v, 1, 0.0]
            return v
        offset, last_src, last_out, last_pass, first_src, n, step = st
        if math.isnan(v):
            return v
        if last_pass != pass_id:
            # a join: carry on from the last output value, rising by the mean step of the
            # pass before (a step across the join is not recorded anywhere); a pass of one
            # sample has none: the step of the join before
            if n > 1:
                step = (last_src - first_src) / (n - 1)
            offset = (last_out + step - v) if not math.isnan(last_out) else 0.0
            first_src, n = v, 1
        elif v < last_src:  # the source itself restarted
            offset = 0.0
            self.resets += 1
            first_src, n = v, 1
        else:
            n += 1
        out = v + offset
        st[:] = [offset, v, out, pass_id, first_src, n, step]
        return out


def _ticks(plan: Plan, seg: Segment, p: int):
    """(output time, source time) of the ticks of pass ``p`` of ``seg``, on the plan grid."""
    length = seg.src_to - seg.src_from
    pass_from = seg.out_from + p * length
    pass_to = min(pass_from + length, seg.out_to)
    k = math.ceil((pass_from - plan.start) / plan.interval - 1e-9)
    while (t := plan.start + k * plan.interval) < pass_to - 1e-9:
        # half a source interval of slack: a target scraped a few ms after another in the
        # same cycle still counts as that cycle's scrape
        yield t, seg.src_from + (t - pass_from) + seg.src_interval / 2
        k += 1


def run_stitch(plan: Plan, out: Path,
               progress: Callable[[float, float], None] | None = None) -> StitchStats:
    """Write the stitched recording to ``out`` (the plan already validated)."""
    stats = StitchStats()
    counters = _Counters()
    instances: dict[tuple, str] = {}
    writer = RecordingWriter(out, plan.start, plan.interval,
                             extra={"provenance": plan.provenance()}, flush_each=False)
    try:
        pass_id = 0
        for seg in plan.segments:
            cached = _cached(seg) if seg.passes > 1 else None
            for p in range(seg.passes):
                source = cached if cached is not None else read_recording(seg.path)[1]
                _run_pass(plan, seg, p, source, pass_id, writer, counters, instances, stats)
                pass_id += 1
                if progress is not None:
                    done = min(seg.out_from + (p + 1) * (seg.src_to - seg.src_from), seg.out_to)
                    progress(done - plan.start, plan.end - plan.start)
    finally:
        writer.close()
    stats.series = len(counters.state) + len(counters.seen)
    stats.resets = counters.resets
    return stats


def _cached(seg: Segment) -> list[Scrape] | None:
    """The scrapes of the segment's window, if they are few enough to keep."""
    kept, size = [], 0
    for scrape in read_recording(seg.path)[1]:
        if scrape.t >= seg.src_to:
            break
        if scrape.t >= seg.src_from - 2 * seg.src_interval:
            kept.append(scrape)
            size += len(scrape.samples or ()) + 1
            if size > CACHE_SAMPLES:
                return None
    return kept


def _run_pass(plan, seg, p, source, pass_id, writer, counters, instances, stats) -> None:
    max_age = 2 * seg.src_interval
    latest: dict[tuple, Scrape] = {}
    pending = None
    ticks = _ticks(plan, seg, p)
    tick = next(ticks, None)
    for scrape in source:
        if tick is None or scrape.t >= seg.src_to:
            break
        if scrape.t < seg.src_from - max_age:
            continue
        while tick is not None and scrape.t > tick[1] + 1e-9:
            _emit(plan, tick, latest, max_age, pass_id, writer, counters, instances, stats)
            tick = next(ticks, None)
        latest[(scrape.job, scrape.instance)] = scrape
        pending = scrape
    while tick is not None and pending is not None:
        _emit(plan, tick, latest, max_age, pass_id, writer, counters, instances, stats)
        tick = next(ticks, None)


def _emit(plan, tick, latest, max_age, pass_id, writer, counters, instances, stats) -> None:
    t, s = tick
    for scrape in latest.values():
        if s - scrape.t > max_age or scrape.t > s + 1e-9:
            continue
        target = (scrape.job, scrape.target_labels)
        instance = scrape.instance if plan.keep_instances else \
            instances.setdefault(target, scrape.instance)
        samples = None
        if scrape.samples is not None:
            samples = []
            for x in scrape.samples:
                v, key = x.value, (scrape.job, instance, x.name, x.labels)
                if x.name.endswith(COUNTER_SUFFIXES):
                    v = counters.value(key, v, pass_id)
                else:
                    counters.seen.add(key)
                samples.append(Sample(x.name, x.labels, v))
            stats.samples += len(samples)
        writer.write_scrape(t, scrape.job, instance, dict(scrape.target_labels), samples)
        stats.scrapes += 1


def stitch(plan_path: Path, out: Path, progress=None,
           force: bool = True) -> tuple[Plan, StitchStats]:
    """Validate, then write to a temporary file beside ``out`` and rename it into place
    (gameday.userfiles.write_into_place)."""
    plan = validate_plan(plan_path)
    stats = write_into_place(Path(out), lambda tmp: run_stitch(plan, tmp, progress),
                             "the stitched recording", force)
    return plan, stats
