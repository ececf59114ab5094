"""Reading Locust's output files (no Locust import)."""

from __future__ import annotations

import subprocess
import sys

from gameday.load.stats import parse_history, parse_stats_csv, summarize

HISTORY = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,"
    "99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,"
    "Total Average Response Time,Total Min Response Time,Total Max Response Time,"
    "Total Average Content Size\n"
    "1795767217,0,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,"
    "0,0,0,0.0,0,0,0\n"
    "1795767218,6,,Aggregated,21.5,0.5,28,57,58,58,78,79,110,115,120,120,120,22,1,28,42.6,"
    "21.1,112.1,150.6\n"
    "1795767219,6,,Aggreg"  # half-written: skipped
)

STATS = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,"
    "75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
    "POST,classify,95,2,28,31.6,23.2,112.1,220.7,11.9,0.2,28,30,32,35,50,60,90,110,112,112,112\n"
    "SSE,generate TTFT,26,0,22,25.0,18.9,57.8,0.0,3.2,0.0,22,23,24,25,30,40,57,57,57,57,57\n"
    ",Aggregated,121,2,26,29.9,18.9,112.1,141.7,15.1,0.2,26,28,30,33,48,58,88,108,112,112,112\n"
)


def test_history_rows_parse_and_skip_a_partial_line():
    rows = parse_history(HISTORY)
    assert len(rows) == 2
    first, last = rows
    assert first.users == 0 and first.p50_ms is None and first.requests == 0
    assert (last.users, last.rps, last.failures_per_s) == (6, 21.5, 0.5)
    assert (last.p50_ms, last.p95_ms, last.p99_ms) == (28.0, 79.0, 115.0)
    assert (last.requests, last.failures) == (22, 1)


def test_history_of_an_empty_file_is_empty():
    assert parse_history("") == []
    assert parse_history(HISTORY.splitlines(keepends=True)[0]) == []


def test_stats_csv_entries_and_summary():
    entries = parse_stats_csv(STATS)
    assert [e.name for e in entries] == ["classify", "generate TTFT", "Aggregated"]
    classify = entries[0]
    assert (classify.method, classify.requests, classify.failures) == ("POST", 95, 2)
    assert (classify.median_ms, classify.p95_ms, classify.p99_ms) == (28.0, 60.0, 110.0)
    summary = summarize(entries)
    assert summary["total"]["requests"] == 121
    assert [e["name"] for e in summary["entries"]] == ["classify", "generate TTFT"]


def test_gameday_load_does_not_import_locust():
    code = ("import sys, gameday.load, gameday.cli.main; "
            "print('locust' in sys.modules, 'gevent' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.split() == ["False", "False"]
