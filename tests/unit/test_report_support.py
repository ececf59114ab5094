"""A synthetic drill run folder for the report tests: 3 minutes of gateway traffic with a
30 s burst of 5xx and fallback guesses, and a timeline of the drill around it."""

from __future__ import annotations

import json
from pathlib import Path

from gameday.engine.exposition import Sample
from gameday.engine.recording import RecordingWriter

START = 1_800_000_000.0
FAULT_START, FAULT_END, DURATION = 60, 90, 180
RPS = 20
BUCKETS = ("0.05", "0.1", "0.3", "1.0", "+Inf")


BAD_REPLICA, GOOD_REPLICA = "http://127.0.0.1:9101", "http://127.0.0.1:9102"


def write_recording(path: Path, seconds: int = DURATION,
                    bursts: tuple = ((FAULT_START, FAULT_END),), ejected: tuple = ()) -> None:
    """``bursts``: (start, end) offsets in seconds with half the requests failing;
    ``ejected``: (start, end) offsets with BAD_REPLICA out of the gateway's pool."""
    writer = RecordingWriter(path, started_at=START, interval_s=1.0)
    ok = bad = guess = 0.0
    hist = dict.fromkeys(BUCKETS, 0.0)
    for i in range(seconds):
        burst = any(a <= i < b for a, b in bursts)
        if burst:  # half 503, half answered with a guess
            bad += RPS / 2
            guess += RPS / 2
        else:
            ok += RPS
        for le in BUCKETS:  # quiet: all under 50 ms; burst: 100-300 ms (inside the SLO)
            if not burst or le not in ("0.05", "0.1"):
                hist[le] += RPS
        base = (("method", "POST"), ("replica", "0"), ("route", "/v1/classify"),
                ("service", "gateway"))
        samples = [
            Sample("http_requests_total", tuple(sorted(base + (("code", "200"),))), ok + guess),
            Sample("gateway_classify_answers_total", (("answer", "model"), ("replica", "0")), ok),
            Sample("http_request_duration_seconds_count", base, hist["+Inf"]),
        ]
        if bad:  # the 5xx series is born with the burst, as prometheus_client does
            samples.append(Sample("http_requests_total",
                                  tuple(sorted(base + (("code", "503"),))), bad))
        if guess:
            samples.append(Sample("gateway_classify_answers_total",
                                  (("answer", "guess"), ("replica", "0")), guess))
        if bad:  # the gateway counts its classify 5xx as answers too (answer="error")
            samples.append(Sample("gateway_classify_answers_total",
                                  (("answer", "error"), ("replica", "0")), bad))
        samples += [Sample("http_request_duration_seconds_bucket",
                           tuple(sorted(base + (("le", le),))), hist[le]) for le in BUCKETS]
        out = any(a <= i < b for a, b in ejected)
        samples += [Sample("gateway_upstream_ejected", (("endpoint", url),
                                                         ("upstream", "classifier")), value)
                    for url, value in ((BAD_REPLICA, 1.0 if out else 0.0), (GOOD_REPLICA, 0.0))]
        writer.write_scrape(START + i, "gateway", "127.0.0.1:8080", {"replica": "0"}, samples)
    writer.close()


EVENTS = [
    (0, "run_start", {"scenario": "classifier-outage", "mode": "auto"}),
    (2, "load_start", {"users": 5}),
    (30, "steady_state", {"ok": True}),
    (FAULT_START, "fault_start", {"who": "chaos", "service": "classifier",
                                  "fault": {"type": "error", "params": {"status": 503}},
                                  "text": "classifier answers 503"}),
    (64, "alert_firing", {"alert": "GatewayAvailabilityBudgetBurn", "severity": "page",
                          "slo_id": "gateway-gateway-availability", "burn_rate": 500.0,
                          "runbook_url": "runbooks/GatewayAvailabilityBudgetBurn.md"}),
    (64.5, "page", {"alert": "GatewayAvailabilityBudgetBurn", "severity": "page",
                    "slo_id": "gateway-gateway-availability",
                    "runbook_url": "runbooks/GatewayAvailabilityBudgetBurn.md"}),
    (70, "ack", {"who": "auto-responder", "alert": "GatewayAvailabilityBudgetBurn"}),
    (75, "diagnosis", {"who": "alice", "text": "classifier is down", "correct": True}),
    (80, "mitigation", {"who": "auto-responder", "lever": "classifier.restart", "ok": False}),
    (85, "mitigation", {"who": "auto-responder", "lever": "faults.clear", "ok": True}),
    (FAULT_END, "fault_end", {"service": "classifier"}),
    (100, "recovered", {"who": "drill"}),
    (130, "alert_resolved", {"alert": "GatewayAvailabilityBudgetBurn", "severity": "page",
                             "slo_id": "gateway-gateway-availability"}),
    (DURATION - 1, "run_end", {}),
]

DRILL = {"version": 1, "scenario": "classifier-outage", "title": "Classifier outage",
         "briefing": "Users report failed classifications.", "mode": "auto",
         "expected": {"detect_s": 30, "recover_s": 120},
         "answer_key": {"text": "classifier returns 503", "fault": "error",
                        "service": "classifier"},
         "started_at": START, "ended_at": START + DURATION - 1}


def write_timeline(path: Path, events=EVENTS) -> None:
    with open(path, "w") as fh:
        for offset, kind, fields in events:
            fh.write(json.dumps({"ts": START + offset, "kind": kind, **fields}) + "\n")


def make_run(tmp_path: Path, events=EVENTS, drill: dict | None = DRILL,
             seconds: int = DURATION, bursts: tuple = ((FAULT_START, FAULT_END),),
             ejected: tuple = ()) -> Path:
    run = tmp_path / "20270115-080000-test"
    run.mkdir()
    write_recording(run / "recording.jsonl.gz", seconds, bursts, ejected)
    write_timeline(run / "timeline.jsonl", events)
    if drill is not None:
        (run / "drill.json").write_text(json.dumps(drill))
    return run
