"""Small synthetic recordings for the converter and stitching tests."""

from __future__ import annotations

from pathlib import Path

from gameday.engine.exposition import Sample
from gameday.engine.recording import RecordingWriter, read_recording

BUCKETS = ("0.1", "0.5", "+Inf")


def stack_like(t: float, n: int, replica: str = "0") -> list[Sample]:
    """A counter, a histogram, a gauge and odd values, as a service would expose at step n."""
    route = (("replica", replica), ("route", '/v1/"quoted"\\path'))
    samples = [Sample("http_requests_total", (("code", "200"), *route), float(10 * n)),
               Sample("http_requests_total", (("code", "500"), *route), float(n // 2)),
               Sample("queue_depth", (("replica", replica),), float(n % 3)),
               Sample("odd_value", (("replica", replica),),
                      [float("nan"), float("inf"), -float("inf"), 0.1][n % 4])]
    for i, le in enumerate(BUCKETS):
        samples.append(Sample("latency_seconds_bucket", (("le", le), ("replica", replica)),
                              float(n * (i + 1))))
    samples.append(Sample("latency_seconds_count", (("replica", replica),), float(n * 3)))
    samples.append(Sample("latency_seconds_sum", (("replica", replica),), 0.25 * n))
    return samples


def make_recording(path: Path, t0: float = 1_700_000_000.125, steps: int = 20,
                   interval: float = 1.0, down_at: tuple[int, ...] = (),
                   counter=lambda n: n, port: int = 8080) -> Path:
    """Two targets scraped ``steps`` times; ``down_at``: steps where gateway's scrape failed.
    ``counter(n)``: the counters' step (to make resets)."""
    writer = RecordingWriter(path, t0, interval)
    for n in range(steps):
        t = t0 + n * interval
        writer.write_scrape(t, "gateway", f"127.0.0.1:{port}", {"replica": "0"},
                            None if n in down_at else stack_like(t, counter(n)))
        writer.write_scrape(t + 0.003, "llm", f"127.0.0.1:{port + 2}", {"replica": "0"},
                            stack_like(t, counter(n)) + [Sample("llm_only", (), float(n))])
    writer.close()
    return path


def scrapes_of(path: Path) -> list[tuple]:
    """Every scrape, comparable: ((t, job, instance), target labels, sorted samples)."""
    _, scrapes = read_recording(path)
    return [((s.t, s.job, s.instance), s.target_labels,
             None if s.samples is None else sorted((x.name, x.labels, repr(x.value))
                                                   for x in s.samples))
            for s in scrapes]
