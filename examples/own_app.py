"""Fault injection and gameday telemetry added to your own FastAPI app.

Run it:  GAMEDAY_ADMIN_TOKEN=change-me uvicorn examples.own_app:app --port 9000
Then:    curl -H 'Authorization: Bearer change-me' -H 'content-type: application/json' \
           -d '{"type": "latency", "params": {"delay_ms": 300}, "ttl_s": 30}' \
           http://127.0.0.1:9000/admin/faults
"""

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from gameday.faults import install_faults
from gameday.telemetry import install_telemetry

app = FastAPI(title="my model service")
install_faults(app, service="my-model")                    # the two lines for faults ...
install_telemetry(app, service="my-model", registry=CollectorRegistry())  # ... and metrics


@app.get("/v1/items/{item_id}")
def read_item(item_id: int) -> dict:
    return {"item_id": item_id}


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}
