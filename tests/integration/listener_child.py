"""The three in-process listeners, served from a child process as the drill and the stack
supervisor serve them (no logging set up: whatever uvicorn or asyncio would print reaches
this process's stderr, which the tests read).

    python tests/integration/listener_child.py RUN_DIR RULES...

Prints one JSON line ``{"drill": url, "query": url, "webhook": url}``, serves until its
stdin closes, stops the three and prints ``{"stop_s": seconds}``. The drill API is a real
incident (scenario bad-model-rollout, already paged, token ``tok``) behind the drill
controller's webhook handling; the query API is the embedded engine on the drill-12h rules.
"""

import json
import sys
import time
from collections import deque
from pathlib import Path

from gameday.drill.api import IncidentServer
from gameday.drill.incident import Incident
from gameday.drill.scenario import load_scenario
from gameday.engine.embedded import EmbeddedEngine
from gameday.engine.queryapi import QueryServer
from gameday.errors import ValidationError
from gameday.prometheus.webhook import WebhookReceiver, parse_webhook

TOKEN = "tok"


def on_alerts(body: dict) -> tuple[int, dict]:
    """As the drill controller's ``_on_webhook``."""
    try:
        notices = parse_webhook(body)
    except ValidationError as err:
        return 400, {"ok": False, "message": str(err)}
    return 200, {"ok": True, "received": len(notices)}


def main() -> None:
    run_dir, rules = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    events: deque = deque(maxlen=1000)
    scenario = load_scenario("bad-model-rollout")
    incident = Incident(str(run_dir), scenario,
                        lambda kind, **fields: events.append((kind, fields)) or fields)
    incident.paged({"alert": scenario.alerts[0], "severity": "page"})
    engine = EmbeddedEngine(rules)
    engine.tick(time.time())
    servers = {"drill": IncidentServer(TOKEN, incident.act, on_alerts),
               "query": QueryServer(engine), "webhook": WebhookReceiver(lambda notices: None)}
    for server in servers.values():
        server.start()
    print(json.dumps({name: s.url for name, s in servers.items()}), flush=True)
    sys.stdin.read()
    started = time.monotonic()
    for server in servers.values():
        server.stop()
    print(json.dumps({"stop_s": time.monotonic() - started}), flush=True)


if __name__ == "__main__":
    main()
