"""The OpenMetrics converter: families, text, bounded buffers, and the round trip."""

import io

import pytest

from gameday.engine.openmetrics import (
    families_of,
    import_openmetrics,
    parse_sample_line,
    write_openmetrics,
)
from gameday.errors import ValidationError
from tests.recfab import make_recording, scrapes_of


def test_families_are_inferred_from_names():
    fams = families_of(["a_bucket", "a_count", "a_sum", "b_total", "c", "d_count", "up"])
    assert fams == {"a": ("histogram", ["a_bucket", "a_count", "a_sum"]),
                    "b": ("counter", ["b_total"]), "c": ("gauge", ["c"]),
                    "d_count": ("unknown", ["d_count"]), "up": ("gauge", ["up"])}


def test_export_groups_each_family_and_ends_with_eof(tmp_path):
    rec = make_recording(tmp_path / "r.jsonl.gz", steps=5, down_at=(2,))
    out = io.StringIO()
    stats = write_openmetrics(rec, out, spill_lines=7)  # spills to files many times
    lines = out.getvalue().splitlines()
    assert lines[-1] == "# EOF"
    types = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(types) == len(set(types)) == stats.families
    assert "# TYPE http_requests counter" in lines and "# TYPE latency_seconds histogram" in lines
    # every sample follows its own family's TYPE line
    family = None
    for line in lines[:-1]:
        if line.startswith("# TYPE"):
            family = line.split()[2]
        else:
            assert line.startswith(family)
    assert 'up{instance="127.0.0.1:8080",job="gateway",replica="0"} 0 1700000002.125' in lines
    assert r'route="/v1/\"quoted\"\\path"' in lines[1] or any(
        r'route="/v1/\"quoted\"\\path"' in line for line in lines)
    assert any(" NaN " in line for line in lines) and any(" -Inf " in line for line in lines)
    assert stats.scrapes == 10 and stats.samples == len(lines) - 1 - stats.families


def test_export_keeps_a_time_range(tmp_path):
    rec = make_recording(tmp_path / "r.jsonl.gz", steps=10)
    stats = write_openmetrics(rec, tmp_path / "r.om", start=1_700_000_003, end=1_700_000_005)
    assert stats.scrapes == 4 and stats.first_t == 1_700_000_003.125


@pytest.mark.parametrize("run_lines", [5, 100_000])
def test_export_then_import_gives_the_same_scrapes(tmp_path, run_lines):
    rec = make_recording(tmp_path / "r.jsonl.gz", steps=12, down_at=(3, 4))
    write_openmetrics(rec, tmp_path / "r.om", spill_lines=11)
    stats = import_openmetrics(tmp_path / "r.om", tmp_path / "back.jsonl.gz",
                               run_lines=run_lines)
    assert sorted(scrapes_of(tmp_path / "back.jsonl.gz")) == sorted(scrapes_of(rec))
    assert stats.interval_s == 1.0 and stats.scrapes == 24


def test_import_refuses_bad_text_with_file_and_line(tmp_path):
    om = tmp_path / "bad.om"
    om.write_text("# TYPE x gauge\nx 1 100\nx{a=b} 2 101\n# EOF\n")
    with pytest.raises(ValidationError, match=r"bad.om: line 3: bad label set"):
        import_openmetrics(om, tmp_path / "o.jsonl.gz")
    om.write_text("# TYPE x gauge\nx 1\n# EOF\n")
    with pytest.raises(ValidationError, match=r"bad.om: line 2: sample 'x' has no timestamp"):
        import_openmetrics(om, tmp_path / "o.jsonl.gz")
    om.write_text("# TYPE x gauge\nx 1 100\n")
    with pytest.raises(ValidationError, match=r"bad.om: no '# EOF' line"):
        import_openmetrics(om, tmp_path / "o.jsonl.gz")


def test_a_sample_line_parses_escapes():
    name, labels, v, t = parse_sample_line('m{a="x\\"y\\\\z\\n",b="c"} +Inf 12.5\n', "f")
    assert (name, labels, v, t) == ("m", [("a", 'x"y\\z\n'), ("b", "c")], float("inf"), 12.5)
