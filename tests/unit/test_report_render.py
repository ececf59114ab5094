"""report.md, report.html and charts/*.png from a synthetic drill run folder."""

import json
import struct
from html.parser import HTMLParser

import pytest

from gameday.report import write_report
from tests.unit.test_report_support import EVENTS, make_run

CHARTS = ("error-ratio.png", "latency.png", "burn-rate.png")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("render"))
    written = write_report(run)
    assert {p.name for p in written} == {"score.json", "report.md", "report.html", *CHARTS}
    return run


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24]), len(data)


def test_charts_are_valid_pngs(run):
    for name in CHARTS:
        (width, height), size = png_size(run / "charts" / name)
        assert 600 <= width <= 2000 and 250 <= height <= 2000, (name, width, height)
        assert 10_000 < size < 2_000_000, (name, size)


def test_markdown_has_phases_budget_charts_and_timeline(run):
    md = (run / "report.md").read_text()
    assert md.startswith("# Drill report: Classifier outage")
    assert "> Users report failed classifications." in md
    assert "## Verdict: PASS" in md
    assert "| Phase | At (UTC) | Since impact start |" in md
    assert "| Detected (first alert firing) | 2027-01-15 08:01:04 | 4s | 4s | 30s |" in md
    assert "| Recovered (steady state met again) | 2027-01-15 08:01:40 | 40s | 15s | 2m00s |" in md
    score = json.loads((run / "score.json").read_text())
    gw = next(s for s in score["slos"] if s["slo_id"] == "gateway-gateway-availability")
    # the figure score.json computed, printed the one way (gameday.slo.consumption)
    shown = f"{100 * gw['budget_consumed']:.2f}%"
    assert shown == gw["budget_consumed_text"]
    events = f"{round(gw['events']['bad']):,} / {round(gw['events']['total']):,}"
    assert f"| gateway-gateway-availability | 99.90% | {shown} | {events} |" in md
    for name in CHARTS:
        assert f"](charts/{name})" in md
    assert "failed (5xx): 300" in md
    # levers graded by what they did, not by the HTTP answer of the call
    assert "| `classifier.restart` | failed | failed | -2 |" in md
    assert "| `faults.clear` | ok | helped | 0 | gateway-gateway-availability error ratio" in md
    assert "## Verdict: PASS (98.0% of the points; pass at 60.0%)" in md
    assert "| lever | -2 | 0 | classifier.restart failed: the call failed" in md
    assert "[GatewayAvailabilityBudgetBurn](" in md
    assert md.count("\n| ") >= len(EVENTS) + 5 + 5  # timeline rows, phases, SLOs


class Collector(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def test_html_parses_and_embeds_the_charts(run):
    html = (run / "report.html").read_text()
    parser = Collector()
    parser.feed(html)
    parser.close()
    assert not parser.errors and not parser.stack
    assert len(parser.images) == 3
    assert all(i["src"].startswith("data:image/png;base64,") for i in parser.images)
    assert "Classifier outage" in html and "GatewayAvailabilityBudgetBurn" in html


def test_partial_run_still_writes_everything(tmp_path):
    events = [e for e in EVENTS if e[1] == "fault_start"]
    run = make_run(tmp_path, events=events, drill=None, seconds=75)
    written = write_report(run)
    assert {p.name for p in written} >= {"score.json", "report.md", "report.html", *CHARTS}
    score = json.loads((run / "score.json").read_text())
    assert score["phases"]["detected"] is None and score["durations_s"]["recover"] is None
    md = (run / "report.md").read_text()
    assert "## Verdict: INCOMPLETE" in md and "partial run" in md
    assert "| Detected (first alert firing) | - | - | - | - |" in md
    for name in CHARTS:
        png_size(run / "charts" / name)


def test_existing_score_is_kept_unless_rescored(tmp_path):
    run = make_run(tmp_path)
    (run / "score.json").write_text(json.dumps({"version": 1, "requests": {"failed": 7}}))
    written = write_report(run)
    assert "score.json" not in {p.name for p in written}
    assert "failed (5xx): 7" in (run / "report.md").read_text()
    write_report(run, rescore=True)
    assert json.loads((run / "score.json").read_text())["requests"]["failed"] == 300


def test_fault_window_on_the_charts_ends_when_the_fault_ran_out_its_ttl(tmp_path):
    from types import SimpleNamespace

    import matplotlib.pyplot as plt
    import numpy as np

    from gameday.report.charts import Frame
    from gameday.report.run import load_run
    from tests.unit.test_report_support import DURATION, FAULT_START, START

    events = [(t, kind, {**data, "fault": {**data["fault"], "ttl_s": 20}})
              if kind == "fault_start" else (t, kind, data)
              for t, kind, data in EVENTS if kind != "fault_end"]
    run = load_run(make_run(tmp_path, events=events))
    metrics = SimpleNamespace(start=START, end=START + DURATION,
                              times=START + np.arange(DURATION, dtype=float))
    fig, ax = plt.subplots()
    Frame(run, metrics).decorate(ax)
    span = ax.patches[0]  # the shaded fault window, in data coordinates along x
    xs = span.get_patch_transform().transform(span.get_path().vertices)[:, 0]
    plt.close(fig)
    assert (min(xs), max(xs)) == (FAULT_START, FAULT_START + 20)
