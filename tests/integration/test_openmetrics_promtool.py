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
