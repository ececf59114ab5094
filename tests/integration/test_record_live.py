"""``gameday record`` against a real stack on loopback: one fault on a schedule, Ctrl-C
half-way; the recording is valid, says what it is, and shows the fault window."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from gameday.engine.recording import read_recording

FAULT_AT_S, FAULT_FOR_S = 4, 8
STOP_AFTER_S = 18  # SIGINT this long after the recording started (planned: 60 s)


def _as_from_a_terminal() -> None:
    """preexec_fn: SIGINT at its default and unblocked in the child, as a shell's foreground
    job has it. A pytest worker may have had it ignored or blocked by an earlier test
    (both survive exec), and Python then never turns a SIGINT into KeyboardInterrupt: the
    recording ran its whole minute once in a full parallel run."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _signal_masks(pid: int) -> str:
    """The SigBlk / SigIgn / SigCgt lines of ``pid`` (Linux)."""
    try:
        lines = open(f"/proc/{pid}/status").read().splitlines()
    except OSError as e:
        return repr(e)
    return " ".join(line for line in lines if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout:g} s")
        time.sleep(0.2)


@pytest.mark.slow
def test_record_a_fault_window_then_ctrl_c_keeps_a_valid_recording(tmp_path):
    plan = tmp_path / "one-fault.yaml"
    plan.write_text(f"- at: {FAULT_AT_S}s\n  for: {FAULT_FOR_S}s\n"
                    "  fault: {service: classifier, type: error, params: {status: 500}}\n")
    out = tmp_path / "rec.jsonl.gz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gameday.cli.main", "record", "-o", str(out), "--duration",
         "60s", "--users", "4", "--warmup", "3s", "--faults", str(plan)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_as_from_a_terminal)
    try:
        part = tmp_path / f".rec.jsonl.gz.{proc.pid}.part"
        _wait_for(lambda: part.exists() or proc.poll() is not None, 120, "recording")
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(STOP_AFTER_S)
        masks = _signal_masks(proc.pid)  # to tell, if it ran on, whether SIGINT got through
        os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert "interrupted (Ctrl-C): kept" in output and "of the planned 1m" in output, \
        f"{output}\nrecorder's signal masks at the SIGINT: {masks}"
    assert out.is_file() and not part.exists()
    assert [p.name for p in tmp_path.glob(".rec*")] == []

    header, scrapes = read_recording(out)
    prov = header["provenance"]
    assert prov["recorded"] is True and prov["stitched"] is False
    assert prov["load"] == {"profile": "steady", "users": 4}
    assert prov["fault_schedule"]["file"] == "one-fault.yaml"
    assert [(f["service"], f["type"], f["at_s"], f["for_s"])
            for f in prov["fault_schedule"]["faults"]] == [
        ("classifier", "error", FAULT_AT_S, FAULT_FOR_S)]
    assert prov["gameday_version"] and prov["warmup_s"] == 3

    start = header["started_at"]
    errors: dict[float, float] = {}  # offset -> classifier 5xx answers so far (all replicas)
    jobs, last_t = set(), start
    for scrape in scrapes:
        jobs.add(scrape.job)
        last_t = max(last_t, scrape.t)
        if scrape.job != "classifier" or not scrape.samples:
            continue
        key = round(scrape.t - start)
        errors[key] = errors.get(key, 0.0) + sum(
            s.value for s in scrape.samples
            if s.name == "http_requests_total" and dict(s.labels).get("code") == "500")
    assert jobs == {"gateway", "classifier", "llm", "features"}
    assert STOP_AFTER_S - 3 <= last_t - start <= STOP_AFTER_S + 10  # cut short, not 60 s
    rising = [t for t in sorted(errors)[1:] if errors[t] > errors.get(t - 1, errors[t])]
    assert rising, f"no classifier 5xx in the recording: {errors}"
    # 500s only inside the fault window (a scrape and the load's pace of slack)
    assert min(rising) >= FAULT_AT_S - 1 and max(rising) <= FAULT_AT_S + FAULT_FOR_S + 2, \
        (rising, errors)

