"""Users of the gateway, shared by the locustfiles: classify, streamed generate, canaries.

Not a scenario itself: gateway_mix.py runs GatewayUser with -u/-t, the shape files
(steady.py, ramp.py, spike.py, soak.py) run it under a LoadTestShape and capacity.py runs
ClassifyUser. Extra options (also read from environment variables):

    --features-host URL   feature store, for the canaries' known labels (LOAD_FEATURES_HOST);
                          without it the label comes from the dataset's make_entity
    --entities N          entity ids e0000..e{N-1} to pick from (LOAD_ENTITIES, 1000)
    --load-users N        users of a shape (LOAD_USERS)
    --load-duration T     how long a shape runs: 30, 30s, 2m (LOAD_DURATION)
"""

from __future__ import annotations

import json
import logging
import random
import time

import gevent
import locust.stats
from locust import FastHttpUser, between, constant_pacing, events, task

# Live progress reads the stats history CSV as it grows: flush it every 2 s (default 5 s).
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 2

PROMPTS = ("In the beginning", "The model said", "Four score and", "We hold these truths")
TTFT_NAME = "generate TTFT"
_labels: dict[str, int] = {}


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    parser.add_argument("--features-host", type=str, env_var="LOAD_FEATURES_HOST", default="",
                        help="Feature store URL for canary labels")
    parser.add_argument("--entities", type=int, env_var="LOAD_ENTITIES", default=1000,
                        help="Entity ids to pick from")
    parser.add_argument("--load-users", type=int, env_var="LOAD_USERS", default=0,
                        help="Users of a load shape (0: the shape's default)")
    parser.add_argument("--load-duration", type=str, env_var="LOAD_DURATION", default="",
                        help="Duration of a load shape: 30, 30s, 2m (empty: its default)")


_reporting_workers: set[str] = set()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict, **_kw) -> None:
    """Distributed mode, on the master: remember which workers sent requests."""
    if (data.get("stats_total") or {}).get("num_requests"):
        _reporting_workers.add(client_id)


@events.quitting.add_listener
def _log_workers(environment, **_kw) -> None:
    if _reporting_workers:
        logging.info("workers that sent requests: %d (%s)", len(_reporting_workers),
                     ", ".join(sorted(_reporting_workers)))


def known_label(user: FastHttpUser, entity_id: str) -> int | None:
    """The true class of ``entity_id``: from the feature store if given, else the dataset."""
    if entity_id in _labels:
        return _labels[entity_id]
    features = user.environment.parsed_options.features_host
    label = None
    if features:
        with user.client.get(f"{features.rstrip('/')}/v1/labels/{entity_id}",
                             name="features label", catch_response=True) as resp:
            if resp.status_code == 200:
                label = int(resp.json()["label"])
            else:
                resp.failure(f"label lookup: HTTP {resp.status_code}")
    else:
        from gameday_services.classifier.dataset import make_entity

        label = make_entity(int(entity_id[1:]))[1]
    if label is not None:
        _labels[entity_id] = label
    return label


RETRY_AFTER_MAX_S = 10.0  # a longer ask is waited this long at most


def retry_after_s(status: int, value: str | None) -> float | None:
    """The wait a refusal (429 or 503 with a Retry-After in seconds) asks for, at most
    ``RETRY_AFTER_MAX_S``; None when it asks for none."""
    if status not in (429, 503) or not value:
        return None
    try:
        wait = float(value)
    except ValueError:  # an HTTP date: not what the gateway sends
        return None
    return min(RETRY_AFTER_MAX_S, wait) if wait > 0 else None


class _GatewayClient(FastHttpUser):
    """A client of the gateway that, refused with 429/503 and a Retry-After, waits that long
    before its next request, as client libraries do: users shed by the gateway come back a
    second later, not a tenth of one, so shedding lowers the load the gateway has to refuse."""

    abstract = True

    def back_off(self, resp) -> None:
        wait = retry_after_s(resp.status_code, resp.headers.get("retry-after"))
        if wait is not None:
            gevent.sleep(wait)

    def entity(self) -> str:
        n = getattr(self.environment.parsed_options, "entities", 1000)
        return f"e{random.randrange(n):04d}"

    def classify_failure(self, resp) -> str | None:
        """Why a classify answer is a failure (None: it is not)."""
        return f"HTTP {resp.status_code}" if resp.status_code != 200 else None

    def post_classify(self) -> None:
        with self.client.post("/v1/classify", json={"entity_id": self.entity()},
                              name="classify", catch_response=True) as resp:
            failure = self.classify_failure(resp)
            if failure is not None:
                resp.failure(failure)
        self.back_off(resp)


class ClassifyUser(_GatewayClient):
    """Only POST /v1/classify, about 10 requests/s per user: what the latency SLO measures."""

    wait_time = constant_pacing(0.1)

    @task
    def classify(self) -> None:
        self.post_classify()


class GatewayUser(_GatewayClient):
    """The mix: classify, labelled canaries (classify requests too) and streamed generations.

    Canaries are two thirds of the classify requests: the quality SLO's error ratio is a
    share of canaries, and v1 gets about 11% of them wrong against a 15% budget, so it needs
    hundreds of canaries per window to stay clear of its ticket threshold by noise alone
    (slos/README.md, "Minimum events"): 6 users send about 8 a second.
    """

    wait_time = between(0.1, 0.5)

    @task(3)
    def classify(self) -> None:
        self.post_classify()

    @task(6)
    def canary(self) -> None:
        entity = self.entity()
        label = known_label(self, entity)
        if label is None:
            return
        with self.client.post("/v1/classify", json={"entity_id": entity, "label": label},
                              name="classify canary", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")
        self.back_off(resp)

    @task(2)
    def generate(self) -> None:
        payload = {"prompt": random.choice(PROMPTS), "max_tokens": 16,
                   "seed": random.randrange(1_000_000), "stream": True}
        start = time.perf_counter()
        with self.client.post("/v1/generate", json=payload, name="generate", stream=True,
                              catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")
            else:
                try:
                    tokens, error = read_stream(resp, lambda: self._first_token(start))
                except Exception as err:  # connection reset mid-stream and the like
                    tokens, error = 0, f"stream broke: {err!r}"
                if error:
                    resp.failure(error)
                elif tokens == 0:
                    resp.failure("stream ended without a token")
        self.back_off(resp)

    def _first_token(self, start: float) -> None:
        self.environment.events.request.fire(
            request_type="SSE", name=TTFT_NAME,
            response_time=(time.perf_counter() - start) * 1000, response_length=0,
            exception=None, context={})


def read_stream(resp, on_first_token) -> tuple[int, str | None]:
    """Read ``data:`` events line by line; returns (tokens, error message or None)."""
    raw = resp._response  # geventhttpclient response: readline returns as each line arrives
    tokens = 0
    while True:
        line = raw.readline(b"\n")
        if not line:
            return tokens, None
        text = line.decode("utf-8", "replace").strip()
        if not text.startswith("data:"):
            continue
        data = text[5:].strip()
        if data == "[DONE]":
            return tokens, None
        try:
            event = json.loads(data)
        except ValueError:
            return tokens, f"not JSON in the stream: {data[:60]!r}"
        if "error" in event:
            return tokens, f"stream error: {event['error']}"
        if "token" in event:
            if tokens == 0:
                on_first_token()
            tokens += 1
