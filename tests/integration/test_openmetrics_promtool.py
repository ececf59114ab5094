"""A recording exported to OpenMetrics, made into TSDB blocks by the real promtool, reads
back with the same values (promtool keeps int(t * 1000) milliseconds)."""

import math
import re
import subprocess

from gameday.engine.openmetrics import write_openmetrics
from gameday.engine.recording import read_recording
from tests.conftest import require_binary
from tests.recfab import make_recording

_DUMP = re.compile(r"^\{(.*)\} (\S+) (\d+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def dumped(promtool: str, db) -> dict:
    (db / "wal").mkdir(exist_ok=True)  # dump opens the folder as a database
    out = subprocess.run([promtool, "tsdb", "dump", str(db)], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    points = {}
    for line in out.splitlines():
        m = _DUMP.match(line)
        assert m, line
        labels = tuple(sorted((k, _unquote(v)) for k, v in _LABEL.findall(m.group(1))))
        points[(labels, int(m.group(3)))] = float(m.group(2))
    return points


def expected(rec) -> dict:
    points = {}
    _, scrapes = read_recording(rec)
    for s in scrapes:
        ms = int(s.t * 1000)
        target = (("instance", s.instance), ("job", s.job))
        up = tuple(sorted((("__name__", "up"), *target, *s.target_labels)))
        points[(up, ms)] = 0.0 if s.samples is None else 1.0
        for x in s.samples or ():
            points[(tuple(sorted((("__name__", x.name), *target, *x.labels))), ms)] = x.value
    return points


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_promtool_blocks_answer_the_recorded_values(tmp_path):
    promtool = require_binary("promtool")
    rec = make_recording(tmp_path / "r.jsonl.gz", steps=30, down_at=(7,))
    stats = write_openmetrics(rec, tmp_path / "r.om", spill_lines=50)
    done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                           str(tmp_path / "r.om"), str(tmp_path / "db")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got, want = dumped(promtool, tmp_path / "db"), expected(rec)
    assert len(want) == stats.samples
    assert got.keys() == want.keys()
    assert all(same(got[k], want[k]) for k in want)


def test_a_stitched_recording_backfills_with_monotonic_counters(tmp_path):
    """Loops of a segment with a restart in it, at 15 s: promtool's blocks hold the same
    values, and their counters drop only where the source restarted."""
    import yaml

    from gameday.engine.stitch import stitch

    promtool = require_binary("promtool")
    make_recording(tmp_path / "seg.jsonl.gz", steps=60,
                   counter=lambda n: n if n < 40 else n - 40)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"interval": "15s", "start": 1_800_000_000,
                                    "segments": [{"recording": "seg.jsonl.gz",
                                                  "repeat_for": "1h"}]}))
    stitch(plan, tmp_path / "day.jsonl.gz")
    write_openmetrics(tmp_path / "day.jsonl.gz", tmp_path / "day.om")
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                    str(tmp_path / "day.om"), str(tmp_path / "db")],
                   capture_output=True, text=True, timeout=120, check=True)
    got, want = dumped(promtool, tmp_path / "db"), expected(tmp_path / "day.jsonl.gz")
    assert got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    counter = sorted((ms, v) for (labels, ms), v in got.items()
                     if ("__name__", "http_requests_total") in labels
                     and ("code", "200") in labels and ("job", "gateway") in labels)
    values = [v for _, v in counter]
    drops = [i for i in range(1, len(values)) if values[i] < values[i - 1]]
    assert len(values) == 240 and len(drops) == 60  # one restart in each 60 s pass
