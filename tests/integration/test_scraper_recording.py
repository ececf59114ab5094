"""The embedded scraper against a real service, and its recording replayed."""

import gzip
import math
import time

import httpx
import pytest

from gameday.engine.recording import RecordingWriter, read_recording, replay
from gameday.engine.scraper import Scraper, targets_from_urls
from gameday.engine.store import SampleStore, is_stale
from gameday.errors import ValidationError
from tests.procs import start_own_app


def dump(store: SampleStore):
    """Every series and its points; NaNs written out so stale markers compare."""
    out = {}
    for labels, ring in store.series([]):
        out[labels] = [(t, "stale" if is_stale(v) else ("nan" if math.isnan(v) else v))
                       for t, v in ring]
    return out


def up_values(store, job):
    [(labels, ring)] = list(store.series([("__name__", "=", "up"), ("job", "=", job)]))
    return dict(labels), [v for _, v in ring]


def test_scrape_record_and_replay_give_the_same_store(tmp_path):
    proc, url = start_own_app()
    store = SampleStore()
    path = tmp_path / "recording.jsonl.gz"
    t0 = time.time()
    writer = RecordingWriter(path, started_at=t0, interval_s=1.0)
    scraper = Scraper(targets_from_urls({"myapp": [url]}), store, recording=writer)
    try:
        for i in range(3):
            httpx.get(f"{url}/v1/items/{i}")
            scraper.scrape_once(t0 + i)
    finally:
        proc.terminate()
        proc.wait()
    scraper.scrape_once(t0 + 3)  # the target is gone: up 0, its series stale
    scraper.stop()

    labels, ups = up_values(store, "myapp")
    assert ups == [1.0, 1.0, 1.0, 0.0]
    assert labels["replica"] == "0" and labels["instance"] == url.split("//")[1]
    # the route's series of code 200 (its 500 and other documented codes exist at 0 too)
    [(key, ring)] = list(store.series([("__name__", "=", "http_requests_total"),
                                       ("route", "=", "/v1/items/{item_id}"),
                                       ("code", "=", "200")]))
    assert dict(key)["job"] == "myapp" and dict(key)["service"] == "my-model"
    assert [v for _, v in ring][:3] == [1.0, 2.0, 3.0] and is_stale(ring[-1][1])

    again = SampleStore()
    header = replay(path, again)
    assert header["interval_s"] == 1.0
    assert dump(again) == dump(store)


def test_a_recording_cut_short_still_replays_its_start(tmp_path):
    path = tmp_path / "r.jsonl.gz"
    writer = RecordingWriter(path, started_at=0, interval_s=1)
    from gameday.engine.exposition import Sample
    for t in range(5):
        writer.write_scrape(t, "j", "h:1", {}, [Sample("x_total", (), float(t))])
    writer.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])  # a killed run: the gzip trailer is missing
    _, scrapes = read_recording(path)
    assert [s.t for s in scrapes] == [0, 1, 2, 3, 4]


def test_not_a_recording_is_refused_with_the_file_name(tmp_path):
    path = tmp_path / "other.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"kind": "something-else"}\n')
    with pytest.raises(ValidationError, match="other.jsonl.gz: field 'kind'"):
        read_recording(path)
