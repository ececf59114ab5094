"""Domain metrics of the classifier: model serving and a simulated accelerator (like DCGM).

Nothing here reveals a fault: only what a real server would see (outcomes, batch sizes,
device utilisation, temperature, memory, XID errors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gameday.telemetry import conventions as c

MODEL = "classifier"
DEVICE = "0"
OUTCOMES = ("correct", "incorrect", "unlabelled", "error")


class ClassifierMetrics:
    def __init__(self, registry: CollectorRegistry, versions: Iterable[str] = ()) -> None:
        self.info = Gauge("model_info", "Model versions this replica knows; 1 for the one "
                          "being served.", ["model", "version"], registry=registry)
        self.batch_size = Histogram("model_batch_size", "Rows per inference batch.", ["model"],
                                    buckets=c.BATCH_SIZE_BUCKETS, registry=registry)
        self.queue_depth = Gauge("model_queue_depth", "Requests waiting for a batch.",
                                 ["model"], registry=registry)
        self.inference_duration = Histogram(
            "model_inference_duration_seconds", "Time to run one batch on the accelerator.",
            ["model"], buckets=c.LATENCY_BUCKETS, registry=registry)
        self.predictions = Counter(
            "model_predictions", "Predictions by outcome: correct/incorrect for labelled "
            "(canary) requests, unlabelled otherwise, error for NaN or failed inferences.",
            ["model", "version", "outcome"], registry=registry)
        self.utilization = Gauge("accelerator_utilization_ratio", "Fraction of recent time the "
                                 "accelerator was busy running batches.", ["device"],
                                 registry=registry)
        self.memory_used = Gauge("accelerator_memory_used_bytes", "Accelerator memory in use: "
                                 "model weights plus activations.", ["device"], registry=registry)
        self.temperature = Gauge("accelerator_temperature_celsius", "Accelerator temperature.",
                                 ["device"], registry=registry)
        self.xid_errors = Counter("accelerator_xid_errors", "XID errors reported by the "
                                  "accelerator driver.", ["device"], registry=registry)
        self.batch_size.labels(MODEL)
        self.inference_duration.labels(MODEL)
        self.xid_errors.labels(DEVICE)
        for version in versions:
            self.info.labels(MODEL, version).set(0)
            for outcome in OUTCOMES:
                self.predictions.labels(MODEL, version, outcome)

    # -- model ----------------------------------------------------------------------
    def set_live_version(self, version: str | None, versions: Iterable[str]) -> None:
        for v in versions:
            self.info.labels(MODEL, v).set(1 if v == version else 0)

    def observe_batch(self, rows: int, seconds: float) -> None:
        self.batch_size.labels(MODEL).observe(rows)
        self.inference_duration.labels(MODEL).observe(seconds)

    def count_prediction(self, version: str, outcome: str, n: int = 1) -> None:
        if n:
            self.predictions.labels(MODEL, version, outcome).inc(n)

    def track_queue_depth(self, depth: Callable[[], float]) -> None:
        self.queue_depth.labels(MODEL).set_function(depth)

    # -- accelerator --------------------------------------------------------------------
    def track_accelerator(self, utilization: Callable[[], float], memory: Callable[[], float],
                          temperature: Callable[[], float]) -> None:
        self.utilization.labels(DEVICE).set_function(utilization)
        self.memory_used.labels(DEVICE).set_function(memory)
        self.temperature.labels(DEVICE).set_function(temperature)

    def count_xid_errors(self, n: int) -> None:
        if n:
            self.xid_errors.labels(DEVICE).inc(n)
