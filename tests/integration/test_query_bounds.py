"""The embedded query API refuses PromQL that is too long, too deep or has too many
operators with Prometheus's 400 ``bad_data``, before parsing, and its process stays small
whatever is sent (a real query server in its own process, RSS read from /proc)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gameday.engine.promql_parse import MAX_NESTING, MAX_OPERATORS, MAX_QUERY_CHARS
from tests.procs import rss_mb

RULES = sorted((Path(__file__).resolve().parents[2] / "slos" / "_gen" / "drill-12h")
               .glob("*.rules.yml"))
SERVER = """
import sys, time
from pathlib import Path
from gameday.engine.embedded import EmbeddedEngine
from gameday.engine.queryapi import QueryServer
engine = EmbeddedEngine([Path(p) for p in sys.argv[1:]])
engine.tick(time.time())
server = QueryServer(engine).start()
print(server.url, flush=True)
time.sleep(3600)
"""
REFUSED_RSS_GROWTH_MB = 20  # 20 refused hostile queries: nothing they allocate survives
ACCEPTED_RSS_GROWTH_MB = 120  # 20 distinct queries at the bounds: the AST cache (~64 MB)


@pytest.fixture(scope="module")
def server():
    proc = subprocess.Popen([sys.executable, "-c", SERVER, *map(str, RULES)],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield proc, url
    finally:
        proc.kill()
        proc.wait(10)


def query(url: str, expr: str, post: bool = False) -> httpx.Response:
    if post:
        return httpx.post(f"{url}/api/v1/query", data={"query": expr}, timeout=30)
    return httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=30)


@pytest.mark.parametrize("expr, reason", [
    ("(" * 5000 + "1" + ")" * 5000, f"nested deeper than {MAX_NESTING} levels"),
    ("sum(" * 65 + "up" + ")" * 65, f"nested deeper than {MAX_NESTING} levels"),
    ("+".join(["1"] * 5000), f"more than {MAX_OPERATORS} operators"),
    ("-" * 300 + "1", f"more than {MAX_OPERATORS} operators"),
    (" and ".join(["up"] * 300), f"more than {MAX_OPERATORS} operators"),
    ("up" + " " * MAX_QUERY_CHARS, f"the limit is {MAX_QUERY_CHARS}"),
])
def test_refused_before_parsing_with_bad_data(server, expr, reason):
    _proc, url = server
    resp = query(url, expr, post=len(expr) > 8000)
    assert resp.status_code == 400, resp.text[:300]
    body = resp.json()
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert reason in body["error"] and len(body["error"]) < 300


def test_bounds_count_brackets_outside_string_literals_only(server):
    _proc, url = server
    deep_label = 'sum(up{job="' + "(" * 500 + "+" * 500 + '"})'
    resp = query(url, deep_label)
    assert resp.status_code == 200, resp.text[:300]
    at_bounds = "(" * MAX_NESTING + "1" + ")" * MAX_NESTING
    assert query(url, at_bounds).json()["data"]["result"][1] == "1"


def test_rss_stays_bounded_under_hostile_queries(server):
    proc, url = server
    for _ in range(3):  # warm up: the rules and the first answers settle the heap
        query(url, "(" * 5000 + "1" + ")" * 5000)
        query(url, "+".join(["1"] * (MAX_OPERATORS // 2)))
    before = rss_mb(proc.pid)
    t0 = time.monotonic()
    for i in range(20):
        nested = "(" * 5000 + str(i) + ")" * 5000
        assert query(url, nested).status_code == 400
    refused = rss_mb(proc.pid) - before
    took = time.monotonic() - t0
    for i in range(20):  # distinct, each at the operator bound: the worst case to cache
        chain = "(" * 60 + "+".join([str(i)] * (MAX_OPERATORS - 1)) + ")" * 60
        resp = query(url, chain)
        assert resp.status_code == 200, resp.text[:200]
    accepted = rss_mb(proc.pid) - before
    print(f"\nquery API RSS growth: {refused:.1f} MB after 20 refused 5,000-deep queries "
          f"({took:.2f} s), {accepted:.1f} MB after 20 more at the bounds")
    assert refused < REFUSED_RSS_GROWTH_MB
    assert accepted < ACCEPTED_RSS_GROWTH_MB
    assert proc.poll() is None
