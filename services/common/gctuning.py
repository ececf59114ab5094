"""The garbage collector of a service process, tuned once the app is built.

CPython's cyclic collector runs a young collection every ``700`` container objects
allocated and not yet freed, and now and then a full one, which walks every tracked object
in the process: the gateway holds about 85,000 once its app is built (FastAPI, pydantic,
prometheus_client, its own tables), and a full collection took 50-55 ms, during which its
event loop served nobody. Measured in the gateway with ``gc.callbacks`` (2026-12-05, 64
closed-loop clients for 8 s, then 3.2x capacity open loop with ``max_in_flight`` 64): 7
full collections per 8 s run costing 370 ms, 80-90 young ones a second costing another
450 ms; about a tenth of the gateway's time, and a 53 ms stall of every request in flight
once a second or so, which the adaptive limit (services/gateway/limiter.py) reads as a
queue.

So, once the app is built:

- ``gc.freeze()`` moves everything alive to a permanent generation that collections skip
  (what Instagram did for its Django workers; the Python docs suggest it for
  pre-fork servers): a full collection then walks the 20,000-30,000 objects of the
  requests in flight, 6 ms instead of 53;
- the young threshold is ``GEN0_THRESHOLD`` (10,000): a request's objects are freed by
  reference counting when it ends, so the allocated-but-not-freed count crosses 700 many
  times a second with nothing cyclic to find, and crosses 10,000 a few times a minute.
  Cyclic garbage waits a little longer to be found: at most that many objects.

With both, the same runs saw 3-6 young collections in 40 s and no full one; the gateway
served 903-1,010 good answers/s to 64 clients instead of 806-908, and at 3.2x 854-925/s
instead of 644-731 (bench/README.md, section 3).
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000  # CPython's default: 700
GEN1_THRESHOLD = 10  # CPython's defaults
GEN2_THRESHOLD = 10


def tune_gc() -> None:
    """Collect once, freeze what survives, raise the young threshold. Call once the
    long-lived objects exist (the app is built) and before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
