"""The drill's timeline as a Prometheus counter, served by the incident API at ``/metrics``.

    gameday_drill_events_total{kind="ack"} 1

Prometheus scrapes it (docker-compose.yml's job ``gameday-drill``, and the Prometheus of
``gameday drill run --prometheus``), and the Grafana drill dashboard turns each increase
into an annotation: page, ack, mitigation, recovered, resolve... Fault events (and the load
an overload experiment adds) are left out on purpose: a responder finds the fault from its
symptoms, not from a chart of the answer.
Every kind starts at 0, so that ``increase()`` sees the first event too.
"""

from __future__ import annotations

import threading

from gameday.timeline import KINDS as TIMELINE_KINDS

NAME = "gameday_drill_events_total"
# What the chaos side writes stays out: a fault's or a surge's start is the drill's answer.
HIDDEN = ("fault_start", "fault_end", "load_surge", "experiment_start", "experiment_end",
          "activity_start", "activity_end", "safeguard_tripped")
KINDS = tuple(k for k in TIMELINE_KINDS if k not in HIDDEN)


class EventCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(KINDS, 0)

    def count(self, event: dict) -> None:
        kind = str(event.get("kind", ""))
        if not kind or kind in HIDDEN or event.get("who") == "chaos":
            return
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def render(self) -> str:
        with self._lock:
            items = sorted(self.counts.items())
        lines = [f"# HELP {NAME} Drill timeline events by kind (faults left out).",
                 f"# TYPE {NAME} counter"]
        lines += [f'{NAME}{{kind="{k}"}} {v}' for k, v in items]
        return "\n".join(lines) + "\n"
