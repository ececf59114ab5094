"""The simulated accelerator: utilisation, memory, temperature, throttling and XID errors."""

import random

import pytest
from prometheus_client import CollectorRegistry

from gameday.faults import FaultSpec, FaultStore
from gameday.faults.catalog import types_for
from gameday_services.classifier.accelerator import Accelerator
from gameday_services.classifier.metrics import ClassifierMetrics
from gameday_services.classifier.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def device():
    registry = CollectorRegistry()
    store = FaultStore(types_for("classifier"))
    clock = Clock()
    settings = Settings(compute_base_ms=10, compute_per_item_ms=2, utilization_window_s=10,
                        model_memory_bytes=1000, activation_bytes_per_item=10)
    acc = Accelerator(settings, ClassifierMetrics(registry, ["v1"]), store, clock=clock,
                      rng=random.Random(0))
    return acc, store, clock, registry


def reading(registry, name):
    return registry.get_sample_value(name, {"device": "0"})


def run_for(acc, clock, seconds, busy=True, step=0.5):
    if busy:
        acc.begin_batch(8)
    end = clock.now + seconds
    while clock.now < end:
        clock.now += step
        acc.tick()
    if busy:
        acc.end_batch()


def test_utilization_is_the_busy_fraction_of_the_window(device):
    acc, _, clock, registry = device
    assert reading(registry, "accelerator_utilization_ratio") == 0.0
    acc.begin_batch(4)
    clock.now += 2.5
    acc.end_batch()
    clock.now += 2.5
    assert reading(registry, "accelerator_utilization_ratio") == pytest.approx(0.25)
    clock.now += 20
    assert reading(registry, "accelerator_utilization_ratio") == 0.0


def test_memory_is_weights_plus_activations_of_queued_and_running_rows(device):
    acc, _, _, registry = device
    assert reading(registry, "accelerator_memory_used_bytes") == 0
    acc.model_bytes = 1000
    acc.queued_rows = lambda: 3
    acc.begin_batch(4)
    assert reading(registry, "accelerator_memory_used_bytes") == 1000 + 7 * 10
    acc.end_batch()
    assert reading(registry, "accelerator_memory_used_bytes") == 1000 + 3 * 10


def test_temperature_follows_load_with_a_lag_and_cools_down(device):
    acc, _, clock, registry = device
    run_for(acc, clock, 5, busy=False)
    assert reading(registry, "accelerator_temperature_celsius") == pytest.approx(35.0)
    run_for(acc, clock, 2)
    warm = reading(registry, "accelerator_temperature_celsius")
    assert 35 < warm < 70  # not there yet: it lags
    run_for(acc, clock, 60)
    assert reading(registry, "accelerator_temperature_celsius") == pytest.approx(85, abs=1)
    run_for(acc, clock, 60, busy=False)
    assert reading(registry, "accelerator_temperature_celsius") == pytest.approx(35, abs=1)


def test_throttling_slows_batches_and_heats_the_device(device):
    acc, store, clock, registry = device
    assert acc.compute_seconds(5) == pytest.approx(0.020)
    store.add(FaultSpec(type="accelerator_throttle", params={"slowdown": 4}, ttl_s=60))
    assert acc.compute_seconds(5) == pytest.approx(0.080)
    run_for(acc, clock, 60, busy=False)
    assert reading(registry, "accelerator_temperature_celsius") > 90


def test_xid_errors_count_per_second_and_fail_batches(device):
    acc, store, clock, registry = device
    run_for(acc, clock, 5, busy=False)
    assert reading(registry, "accelerator_xid_errors_total") == 0
    assert acc.failing_xid() is None
    store.add(FaultSpec(type="xid_errors", params={"per_s": 2, "xid": 79}, ttl_s=60))
    run_for(acc, clock, 5, busy=False)
    assert reading(registry, "accelerator_xid_errors_total") == 10
    assert acc.failing_xid() == 79
    store.clear()
    run_for(acc, clock, 5, busy=False)
    assert reading(registry, "accelerator_xid_errors_total") == 10


def test_xid_failed_fraction_fails_only_some_batches(device):
    acc, store, _, _ = device
    store.add(FaultSpec(type="xid_errors", params={"failed_fraction": 0.3}, ttl_s=60))
    failures = sum(acc.failing_xid() is not None for _ in range(1000))
    assert 200 < failures < 400
