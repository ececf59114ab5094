"""The web console's routes (gameday.drill.console): the page and its files without a
token, data only with one, a fixed list of files, escaped text, a bounded stream."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from gameday.drill.console import Console
from gameday.drill.console.debrief import render_debrief, serve_debrief
from gameday.drill.console.markdown import render_markdown
from gameday.drill.console.routes import STATIC, ConsoleStream, lever_specs
from gameday.drill.console.snapshot import MetricsFeed, take_snapshot
from gameday.listener import Reply, Request
from gameday.timeline import append_event

STATIC_DIR = Path(__file__).parents[2] / "src/gameday/drill/console/static"
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def fake_api(role_of_token: dict[str, str], pages: list[dict]):
    """The drill API as the console asks it: /incident for any drill token,
    /facilitator/state for the facilitator's only."""

    def handle(request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        role = role_of_token.get(auth.removeprefix("Bearer "))
        if role is None:
            return Reply(401, {"ok": False})
        if request.path == "/incident":
            return Reply(200, {"ok": True, "scenario": {"title": HOSTILE, "runbook": None},
                               "pages": pages, "hints": []})
        if request.path == "/facilitator/state":
            if role != "facilitator":
                return Reply(403, {"ok": False})
            return Reply(200, {"answer_key": {"root_cause": "the classifier is down"},
                               "hints_remaining": ["look at the gateway"], "fault": {}})
        return Reply(404, {"ok": False})

    return handle


@pytest.fixture
def console(tmp_path):
    pages = [{"alert": "GatewayAvailabilityBudgetBurn", "slo_id": "gateway-gateway-availability",
              "runbook_url": "runbooks/GatewayAvailabilityBudgetBurn.md", "burn_rate": 20.0}]
    append_event(tmp_path, "note", who="amy", text=HOSTILE)
    feed = MetricsFeed(lambda: None)
    feed.add({"t": 1.0, "burn": {"a": 1.0}, "error_ratio": {}, "latency_p99_s": {}})
    over = {"now": False}
    c = Console(lambda: tmp_path, fake_api({"R": "responder", "F": "facilitator"}, pages),
                feed, lambda: over["now"])
    c.over = over
    return c


def get(console, path, role=None, token=None, query=""):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return console(Request("GET", path, query, headers), role)


def test_the_page_and_its_files_need_no_token(console):
    page = get(console, "/console")
    assert page.status == 200 and page.content_type.startswith("text/html")
    assert "/console/static/uPlot.iife.min.js" in page.body
    assert dict(page.headers)["content-security-policy"].startswith("default-src 'self'")
    for name in STATIC:
        assert get(console, f"/console/static/{name}").status == 200, name
    assert "MIT License" in get(console, "/console/static/uPlot.LICENSE").body


@pytest.mark.parametrize("name", ["../routes.py", "..%2Froutes.py", "vendor/uPlot.min.css",
                                  "/etc/passwd", "index.html/", "console.js%00", "CONSOLE.JS",
                                  "../../../runfolder.py", ""])
def test_only_the_listed_files_are_served(console, name):
    assert get(console, f"/console/static/{name}").status == 404


@pytest.mark.parametrize("path", ["/console/stream", "/console/api/levers",
                                  "/console/api/runbook", "/console/api/debrief"])
def test_data_needs_a_drill_token(console, path):
    reply = get(console, path)
    assert reply.status == 401
    assert "bearer token" in reply.body["message"]


def test_only_get(console):
    assert console(Request("POST", "/console/api/levers", "", {}), "responder").status == 405


def test_levers_come_with_their_arguments():
    specs = {s["lever"]: s for s in lever_specs()}
    assert "inject_fault" not in specs  # breaking things is not a lever
    for spec in specs.values():
        assert spec["help"]
        for arg in spec["arguments"]:
            assert arg["name"] not in ("run", "configuration", "secrets")
            assert set(arg) == {"name", "required", "default", "type"}
    assert any(a["required"] for s in specs.values() for a in s["arguments"])


def test_a_runbook_linked_by_a_page_is_rendered(console):
    reply = get(console, "/console/api/runbook", "responder", "R",
                "url=runbooks/GatewayAvailabilityBudgetBurn.md")
    assert reply.status == 200
    assert "<h2>GatewayAvailabilityBudgetBurn</h2>" in reply.body["html"]
    assert "<script" not in reply.body["html"]


@pytest.mark.parametrize("url", ["runbooks/LlmTimeToFirstTokenBudgetBurn.md",
                                 "../pyproject.toml", "/etc/passwd", ""])
def test_a_runbook_not_linked_from_the_incident_is_refused(console, url):
    reply = get(console, "/console/api/runbook", "responder", "R", f"url={url}")
    assert reply.status == 404


def test_markdown_escapes_everything():
    out = render_markdown(f"# {HOSTILE}\n\n- {HOSTILE}\n\n| {HOSTILE} |\n\n```\n{HOSTILE}\n```\n"
                          f"[x](javascript:alert(1)) <b onclick=x>`{HOSTILE}`**{HOSTILE}**")
    assert "<script" not in out and "<img" not in out and "<b " not in out
    assert "href" not in out and "&lt;script&gt;" in out


def stream_of(console, role, token):
    return ConsoleStream(console, {"authorization": f"Bearer {token}"}, role)


def events_in(chunk: bytes) -> dict[str, list]:
    found: dict[str, list] = {}
    for block in chunk.decode().split("\n\n"):
        kind = re.search(r"^event: (\w+)$", block, re.M)
        data = re.search(r"^data: (.*)$", block, re.M)
        if kind and data:
            found.setdefault(kind.group(1), []).append(json.loads(data.group(1)))
    return found


def test_the_stream_sends_state_timeline_and_metrics_then_ends(console, tmp_path):
    stream = stream_of(console, "responder", "R")
    first = events_in(stream.produce())
    assert first["state"][0]["role"] == "responder"
    assert "facilitator" not in first["state"][0]  # no answer key for a responder
    assert first["timeline"][0][0]["text"] == HOSTILE  # sent as data; the page sets text
    assert first["metrics"][0]["burn"] == {"a": 1.0}
    assert stream.produce() == b""  # nothing new
    append_event(tmp_path, "ack", who="amy", text="ack")
    console.feed.add({"t": 2.0, "burn": {"a": 2.0}, "error_ratio": {}, "latency_p99_s": {}})
    second = events_in(stream.produce())
    assert [e["kind"] for e in second["timeline"][0]] == ["ack"]
    assert [m["t"] for m in second["metrics"]] == [2.0]
    console.over["now"] = True
    last = events_in(stream.produce())
    assert last["end"] == [{"debrief": "/console/debrief"}]
    assert stream.produce() is None  # the stream ends with the drill


def test_the_facilitator_stream_has_the_answer_key(console):
    state = events_in(stream_of(console, "facilitator", "F").produce())["state"][0]
    assert state["facilitator"]["answer_key"]["root_cause"] == "the classifier is down"


def test_a_responder_claiming_the_facilitator_role_still_gets_no_answer_key(console):
    # the role comes from the API, but the state is asked with the caller's own token
    state = events_in(stream_of(console, "facilitator", "R").produce())["state"][0]
    assert "facilitator" not in state


def test_the_metrics_feed_keeps_a_bounded_history():
    feed = MetricsFeed(lambda: None, history=5)
    for t in range(8):
        feed.add({"t": t})
    snaps, at = feed.since(0)
    assert [s["t"] for s in snaps] == [3, 4, 5, 6, 7] and at == 8
    assert feed.since(at) == ([], 8)
    assert [s["t"] for s in feed.since(6)[0]] == [6, 7]


def test_a_snapshot_reads_each_figure_and_survives_a_failing_query():
    class Sample:
        def __init__(self, labels, value):
            self.labels, self.value = labels, value

    class Api:
        def query(self, expr):
            if "histogram_quantile" in expr:
                raise RuntimeError("down")
            if expr.startswith("slo:"):
                return [Sample({"sloth_id": "gw"}, 3.5), Sample({"sloth_id": "x"}, float("nan"))]
            return [Sample({"service": "gateway"}, 0.25)]

    snap = take_snapshot(Api(), now=10.0)
    assert snap == {"t": 10.0, "burn": {"gw": 3.5}, "error_ratio": {"gateway": 0.25},
                    "latency_p99_s": {}}


def test_static_files_name_no_external_url():
    """The console works offline: no URL but loopback in any file it serves (the vendored
    library's licence header names its home page, as its licence asks)."""
    for path in STATIC_DIR.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.parent.name == "vendor" and text.startswith("/*!"):
            text = text[text.index("*/") + 2:]  # the licence header
        if path.name.endswith("LICENSE"):
            continue
        urls = re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", text)
        assert [u for u in urls if not re.match(r"(https?:)?//(127\.0\.0\.1|localhost)", u)
                ] == [], path.name


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from gameday.report import write_score
    from tests.unit.test_report_support import make_run

    run = make_run(tmp_path_factory.mktemp("debrief"))
    write_score(run)  # the figures; the charts and report pages are not needed
    (run / "postmortem.md").write_text(f"# Postmortem\n\n{HOSTILE}\n")
    (run / "responder.token").write_text("resp-token\n")
    return run


def test_the_debrief_shows_levers_with_grades_hints_and_the_draft(finished_run):
    html = render_debrief(finished_run)
    assert "<td><code>classifier.restart</code></td><td>failed</td><td>failed</td>" in html
    assert "helped" in html and "Expected within" in html
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "postmortem.md" in html


def test_the_debrief_is_served_for_a_drill_token_only(finished_run):
    listener = serve_debrief(finished_run)
    try:
        page = httpx.get(f"{listener.url}/console/debrief", timeout=5)
        assert page.status_code == 200 and "<html" in page.text
        url = f"{listener.url}/console/api/debrief"
        assert httpx.get(url, timeout=5).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=5
                         ).status_code == 401
        ok = httpx.get(url, headers={"Authorization": "Bearer resp-token"}, timeout=10)
        assert ok.status_code == 200 and "classifier.restart" in ok.json()["html"]
        with httpx.stream("GET", f"{listener.url}/console/stream", timeout=5,
                          headers={"Authorization": "Bearer resp-token"}) as resp:
            body = resp.read().decode()
        assert "event: end" in body  # a finished run's stream ends at once
    finally:
        listener.stop()


def test_the_feed_queries_only_while_someone_watches(monkeypatch):
    from gameday.drill.console import snapshot

    asked = []

    class Api:
        def query(self, expr):
            asked.append(expr)
            return []

    feed = MetricsFeed(lambda: Api(), interval_s=0.05).start()
    try:
        time.sleep(0.3)
        assert asked == [] and feed.taken == 0  # nobody has opened the console
        feed.since(0)
        deadline = time.monotonic() + 5
        while feed.taken < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert feed.taken >= 2
        monkeypatch.setattr(snapshot, "IDLE_S", 0.0)  # the watcher has gone
        time.sleep(0.2)
        taken = feed.taken
        time.sleep(0.3)
        assert feed.taken == taken
    finally:
        feed.stop()


def test_the_debrief_says_so_when_its_port_is_taken(finished_run):
    from gameday.errors import GamedayError

    taken = serve_debrief(finished_run)
    try:
        with pytest.raises(GamedayError, match=f"cannot listen on 127.0.0.1:{taken.port}"):
            serve_debrief(finished_run, port=taken.port, wait_s=0.5)
    finally:
        taken.stop()


def test_a_slow_incident_never_holds_the_stream(tmp_path, monkeypatch):
    """A lever being pulled holds the incident for seconds: the stream keeps sending the
    timeline and metrics meanwhile, and the state once it comes."""
    from gameday.drill.console import routes

    monkeypatch.setattr(routes, "FIRST_STATE_S", 0.2)
    release = threading.Event()

    def slow_api(request):
        release.wait(10)
        return Reply(200, {"ok": True, "pages": []})

    feed = MetricsFeed(lambda: None)
    console = Console(lambda: tmp_path, slow_api, feed, lambda: False)
    stream = ConsoleStream(console, {}, "responder")
    started = time.monotonic()
    first = stream.produce()
    append_event(tmp_path, "note", who="amy", text="still here")
    second = events_in(stream.produce())
    assert time.monotonic() - started < 2
    assert "state" not in events_in(first) and second["timeline"][-1][-1]["text"] == "still here"
    release.set()
    deadline = time.monotonic() + 5
    got: dict = {}
    while "state" not in got and time.monotonic() < deadline:
        time.sleep(0.05)
        got = events_in(stream.produce())
    assert got["state"][0]["role"] == "responder"
