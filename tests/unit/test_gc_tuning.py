"""A service process's collector, once its app is built: what is alive is frozen out of
collections, and young collections wait for 10,000 objects, not 700
(services/common/gctuning.py). Run in a child process: the tuning is process-wide."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json
from gameday_services.gateway.app import create_app
from gameday_services.gateway.settings import Settings
from gameday_services.common.gctuning import tune_gc

app = create_app(Settings())
before = gc.get_threshold()
tune_gc()
print(json.dumps({"before": before, "after": gc.get_threshold(),
                  "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}))
"""


def test_the_built_gateway_is_frozen_and_young_collections_wait_longer():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=120, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["before"] == [700, 10, 10]
    assert res["after"] == [10_000, 10, 10]
    # the app's objects are out of every collection: few are left to walk
    assert res["frozen"] > 50_000 and res["tracked"] < res["frozen"] / 10
