"""Share of the gateway's classify requests over 300 ms, per 20 s of a recording (the
classify-latency SLO's threshold), to see where a recording is slow and why.

    .venv/bin/python recordings/latency_share.py recordings/quiet-baseline-segment.jsonl.gz
"""

import sys

from gameday.engine.recording import read_recording
from gameday.resources import find_recording

STEP_S = 20


def main(name: str) -> None:
    header, scrapes = read_recording(find_recording(name))
    start = header["started_at"]
    rows = []  # (offset, requests under 300 ms so far, requests so far)
    for scrape in scrapes:
        if scrape.job != "gateway" or not scrape.samples:
            continue
        fast = total = 0.0
        for s in scrape.samples:
            labels = dict(s.labels)
            if s.name == "http_request_duration_seconds_bucket" \
                    and labels.get("route") == "/v1/classify":
                fast += s.value if labels["le"] == "0.3" else 0.0
                total += s.value if labels["le"] == "+Inf" else 0.0
        rows.append((scrape.t - start, fast, total))
    for k in range(int(rows[-1][0]) // STEP_S + 1):
        part = [r for r in rows if k * STEP_S <= r[0] < (k + 1) * STEP_S]
        if len(part) >= 2:
            n = part[-1][2] - part[0][2]
            slow = n - (part[-1][1] - part[0][1])
            print(f"+{k * STEP_S:4d}s  {n:5.0f} classify  {slow:4.0f} over 300 ms "
                  f"({slow / max(n, 1) * 100:5.1f}%)")
    n, slow = rows[-1][2], rows[-1][2] - rows[-1][1]
    print(f"all: {n:.0f} classify, {slow:.0f} over 300 ms ({slow / max(n, 1) * 100:.2f}%)")


if __name__ == "__main__":
    main(sys.argv[1])
