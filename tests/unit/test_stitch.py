"""Stitching recorded segments into a long recording: counters continue across joins and
loops, resets only where the source restarted, resampling, provenance, plan errors."""

import math

import pytest
import yaml

from gameday.engine.recording import read_recording
from gameday.engine.stitch import stitch, validate_plan
from gameday.errors import ValidationError
from tests.recfab import make_recording

T0 = 1_700_000_000.125
START = 1_800_000_000.0


def write_plan(folder, **plan):
    plan.setdefault("interval", "1s")
    plan.setdefault("start", START)
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def series(path, name, job="gateway", **match):
    """[(t, value)] of the one series ``name`` of ``job`` matching ``match``."""
    points = []
    for s in read_recording(path)[1]:
        if s.job != job or s.samples is None:
            continue
        for x in s.samples:
            if x.name == name and all(dict(x.labels).get(k) == v for k, v in match.items()):
                points.append((s.t, x.value))
    return points


def drops(values):
    return [i for i in range(1, len(values)) if values[i] < values[i - 1]]


def test_counters_continue_across_loops_and_joins(tmp_path):
    make_recording(tmp_path / "a.jsonl.gz", t0=T0, steps=20)
    make_recording(tmp_path / "b.jsonl.gz", t0=T0 + 500, steps=10, port=9090)
    plan = write_plan(tmp_path, segments=[
        {"recording": "a.jsonl.gz", "repeat_for": "60s"},
        {"recording": "b.jsonl.gz"}])
    _, stats = stitch(plan, tmp_path / "out.jsonl.gz")
    points = series(tmp_path / "out.jsonl.gz", "http_requests_total", code="200")
    values = [v for _, v in points]
    assert [t - START for t, _ in points] == [float(k) for k in range(70)]
    assert drops(values) == [] and stats.resets == 0
    # inside a pass it rises as the source, 10 a step; across a join (3 loops of a, then b)
    # by the mean step of the pass before, 10 too: the rate is the source's throughout
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    assert set(steps) == {10.0} and values[-1] == 10 * 69
    # b listened on another port: its series carry a's instance, so they are one series
    instances = {s.instance for s in read_recording(tmp_path / "out.jsonl.gz")[1]}
    assert instances == {"127.0.0.1:8080", "127.0.0.1:8082"}


def test_resets_appear_only_where_the_source_restarted(tmp_path):
    make_recording(tmp_path / "r.jsonl.gz", t0=T0, steps=20,
                   counter=lambda n: n if n < 12 else n - 12)  # a restart at step 12
    plan = write_plan(tmp_path, segments=[{"recording": "r.jsonl.gz", "repeat_for": "60s"}])
    _, stats = stitch(plan, tmp_path / "out.jsonl.gz")
    values = [v for _, v in series(tmp_path / "out.jsonl.gz", "latency_seconds_bucket",
                                   le="+Inf")]
    assert drops(values) == [12, 32, 52]
    assert [values[i] for i in drops(values)] == [0.0, 0.0, 0.0]  # a real reset: to 0
    # between, it rises 3 a step (the bucket's source step), across joins as well
    assert {values[i] - values[i - 1] for i in range(1, 60) if i not in drops(values)} == {3.0}
    assert stats.resets == 3 * 2 * 7  # 3 passes, 2 targets, 7 counter series dropping


def test_gauges_and_odd_values_are_copied_and_failed_scrapes_stay_failed(tmp_path):
    make_recording(tmp_path / "r.jsonl.gz", t0=T0, steps=8, down_at=(3,))
    plan = write_plan(tmp_path, segments=[{"recording": "r.jsonl.gz", "repeat_for": "16s"}])
    stitch(plan, tmp_path / "out.jsonl.gz")
    assert [v for _, v in series(tmp_path / "out.jsonl.gz", "queue_depth")] == \
        [0, 1, 2, 1, 2, 0, 1, 0, 1, 2, 1, 2, 0, 1]  # the source's n % 3, step 3 failed
    odd = [v for _, v in series(tmp_path / "out.jsonl.gz", "odd_value", job="llm")]
    assert math.isnan(odd[0]) and odd[1:4] == [math.inf, -math.inf, 0.1]
    failed = [s.t - START for s in read_recording(tmp_path / "out.jsonl.gz")[1]
              if s.samples is None]
    assert failed == [3.0, 11.0]


def test_resampling_to_15s_takes_the_scrape_at_or_before_each_tick(tmp_path):
    make_recording(tmp_path / "r.jsonl.gz", t0=T0, steps=120)
    plan = write_plan(tmp_path, interval="15s",
                      segments=[{"recording": "r.jsonl.gz", "slice": ["10s", "100s"]}])
    stitch(plan, tmp_path / "out.jsonl.gz")
    header, scrapes = read_recording(tmp_path / "out.jsonl.gz")
    assert header["interval_s"] == 15.0
    scrapes = list(scrapes)
    assert [s.t - START for s in scrapes if s.job == "gateway"] == [0, 15, 30, 45, 60, 75]
    # tick k reads source step 10 + 15k, llm's too (scraped 3 ms after gateway's)
    for job in ("gateway", "llm"):
        values = [v for _, v in series(tmp_path / "out.jsonl.gz", "queue_depth", job=job)]
        assert values == [float((10 + 15 * k) % 3) for k in range(6)]


def test_provenance_says_what_was_stitched_and_a_plain_header_is_unchanged(tmp_path):
    rec = make_recording(tmp_path / "r.jsonl.gz", t0=T0, steps=10)
    plain, _ = read_recording(rec)
    assert set(plain) == {"kind", "version", "started_at", "interval_s"}
    plan = write_plan(tmp_path, segments=[
        {"recording": "r.jsonl.gz", "slice": [0, "5s"], "repeat_for": "12s"}])
    stitch(plan, tmp_path / "out.jsonl.gz")
    header, _ = read_recording(tmp_path / "out.jsonl.gz")
    prov = header["provenance"]
    assert prov["stitched"] is True and prov["plan"] == "plan.yaml"
    [seg] = prov["segments"]
    assert seg["source"] == "r.jsonl.gz" and len(seg["sha256"]) == 64
    assert (seg["from"], seg["to"], seg["repeat"]) == (START, START + 12, 3)
    assert seg["source_to"] - seg["source_from"] == 5


@pytest.mark.parametrize("plan, message", [
    ({"segments": []}, "plan.yaml: field 'segments': must be a non-empty list, got []"),
    ({"interval": "fast", "segments": [{"recording": "r.jsonl.gz"}]},
     "plan.yaml: field 'interval': not a duration, got 'fast'"),
    ({"start": "2026-01-05T00:00:00", "segments": [{"recording": "r.jsonl.gz"}]},
     "plan.yaml: field 'start': the time needs a zone (Z or +01:00), got '2026-01-05T00:00:00'"),
    ({"segments": [{"recording": "nope"}]},
     "plan.yaml: segments[0].recording: recording 'nope': no such file"),
    ({"segments": [{"recording": "r.jsonl.gz", "slice": ["5s", "99s"]}]},
     "plan.yaml: segments[0].slice[1]: '99s' is past the end of r.jsonl.gz (10s long)"),
    ({"segments": [{"recording": "r.jsonl.gz", "slice": ["5s", "2s"]}]},
     "plan.yaml: segments[0].slice: from must be before to, got ['5s', '2s']"),
    ({"segments": [{"recording": "r.jsonl.gz", "repeat_for": "-1h"}]},
     "plan.yaml: segments[0].repeat_for: not a duration, got '-1h'"),
    ({"segments": [{"recording": "r.jsonl.gz", "loop": 3}]},
     "plan.yaml: segments[0]: unknown field 'loop'"),
    ({"extra": 1, "segments": [{"recording": "r.jsonl.gz"}]},
     "plan.yaml: unknown field 'extra'"),
])
def test_plan_errors_name_file_field_and_value(tmp_path, monkeypatch, plan, message):
    monkeypatch.chdir(tmp_path)
    make_recording(tmp_path / "r.jsonl.gz", t0=T0, steps=10)
    path = write_plan(tmp_path, **plan)
    with pytest.raises(ValidationError) as err:
        validate_plan(path)
    assert str(err.value).startswith(str(tmp_path / message.split(":")[0]) + ":")
    assert message.split(": ", 1)[1] in str(err.value)


def test_nothing_is_left_behind_when_stitching_fails(tmp_path, monkeypatch):
    make_recording(tmp_path / "r.jsonl.gz", t0=T0, steps=5)
    plan = write_plan(tmp_path, segments=[{"recording": "r.jsonl.gz"}])
    import gameday.engine.stitch as stitch_mod

    def boom(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(stitch_mod, "_run_pass", boom)
    from gameday.errors import OutputError

    with pytest.raises(OutputError, match=r"out\.jsonl\.gz: cannot write the stitched "
                                          r"recording \(disk full\)"):
        stitch(plan, tmp_path / "out.jsonl.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.yaml", "r.jsonl.gz"]


def test_a_loop_shorter_than_two_ticks_keeps_the_rate(tmp_path):
    make_recording(tmp_path / "r.jsonl.gz", t0=T0, steps=40)
    plan = write_plan(tmp_path, interval="15s", segments=[
        {"recording": "r.jsonl.gz", "slice": [0, "20s"], "repeat_for": "10m"}])
    stitch(plan, tmp_path / "out.jsonl.gz")
    values = [v for _, v in series(tmp_path / "out.jsonl.gz", "http_requests_total",
                                   code="200")]
    assert len(values) == 40 and drops(values) == []
    rate = (values[-1] - values[0]) / (15 * 39)
    assert rate == pytest.approx(10.0, rel=0.1)  # the source's 10 a second
