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

NAME = "gameday_drill_events_total"
KINDS = ("run_start", "load_start", "steady_state", "alert_firing", "alert_resolved", "page",
         "ticket", "ack", "role", "note", "hint", "mitigation", "escalate", "diagnosis",
         "recovered", "resolve", "run_end")
HIDDEN = ("fault_start", "fault_end", "load_surge")  # load_surge: an overload's answer


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
