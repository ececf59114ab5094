"""Replica pool: load balancing and Envoy-like outlier ejection, with an injected clock."""

import random

from gameday_services.gateway.policy import BalancingPolicy
from gameday_services.gateway.upstreams import ReplicaPool

A, B, C = "http://127.0.0.1:8082", "http://127.0.0.1:8083", "http://127.0.0.1:8085"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_pool(urls=(A, B), clock=None):
    events = []
    pool = ReplicaPool("classifier", list(urls), clock or Clock(), random.Random(1),
                       on_ejection=lambda up, url, ejected: events.append((url, ejected)))
    return pool, events


def fail(pool, url, policy, n):
    replica = pool.find(url)
    for _ in range(n):
        pool.record(replica, policy, ok=False)


def test_five_consecutive_failures_eject_and_traffic_goes_to_the_other():
    pool, events = make_pool()
    policy = BalancingPolicy()
    fail(pool, B, policy, 4)
    assert not pool.find(B).ejected
    fail(pool, B, policy, 1)
    assert pool.find(B).ejected
    assert (B, True) in events
    assert {pool.pick(policy).url for _ in range(10)} == {A}


def test_a_success_in_between_resets_the_count():
    pool, _ = make_pool()
    policy = BalancingPolicy()
    for _ in range(3):
        fail(pool, B, policy, 4)
        pool.record(pool.find(B), policy, ok=True)
    assert not pool.find(B).ejected


def test_at_least_one_replica_always_stays():
    pool, _ = make_pool()
    policy = BalancingPolicy(max_ejection_percent=100)
    fail(pool, B, policy, 5)
    fail(pool, A, policy, 50)
    assert pool.find(B).ejected and not pool.find(A).ejected
    single, _ = make_pool([A])
    fail(single, A, policy, 50)
    assert not single.find(A).ejected


def test_max_ejection_percent_limits_ejections():
    pool, _ = make_pool([A, B, C, "http://127.0.0.1:8086"])
    policy = BalancingPolicy(max_ejection_percent=50)
    for url in (A, B, C):
        fail(pool, url, policy, 5)
    assert sum(r.ejected for r in pool.replicas) == 2
    off = BalancingPolicy(max_ejection_percent=0)
    other, _ = make_pool()
    fail(other, B, off, 10)
    assert not other.find(B).ejected


def test_readmitted_after_ejection_time_which_grows_with_each_ejection():
    clock = Clock()
    pool, events = make_pool(clock=clock)
    policy = BalancingPolicy(base_ejection_s=30)
    fail(pool, B, policy, 5)
    clock.now += 29.9
    assert pool.find(B) not in pool.available()
    clock.now += 0.2
    assert pool.find(B) in pool.available()
    assert events[-1] == (B, False)
    fail(pool, B, policy, 5)  # second ejection: 2 x 30 s
    clock.now += 59
    assert pool.find(B).ejected
    pool.refresh()
    assert pool.find(B).ejected
    clock.now += 1.1
    pool.refresh()
    assert not pool.find(B).ejected


def test_outlier_detection_can_be_switched_off():
    pool, _ = make_pool()
    fail(pool, B, BalancingPolicy(outlier_detection=False), 20)
    assert not pool.find(B).ejected


def test_manual_ejection_until_uneject_keeps_one():
    clock = Clock()
    pool, _ = make_pool(clock=clock)
    assert pool.eject(pool.find("1"), None)
    assert not pool.eject(pool.find("0"), None)  # the last replica stays
    clock.now += 10_000
    assert pool.find(B).ejected
    assert pool.uneject(pool.find("127.0.0.1:8083"))
    assert not pool.find(B).ejected


def test_round_robin_alternates_and_retries_avoid_the_tried_replica():
    pool, _ = make_pool()
    policy = BalancingPolicy(strategy="round_robin")
    picks = [pool.pick(policy).url for _ in range(4)]
    assert picks.count(A) == 2 and picks.count(B) == 2
    first = pool.pick(policy)
    assert pool.pick(policy, exclude=[first]) is not first
    assert pool.pick(policy, exclude=pool.replicas) in pool.replicas


def test_least_outstanding_and_power_of_two_prefer_idle_replicas():
    pool, _ = make_pool()
    pool.find(A).outstanding = 5
    for strategy in ("least_outstanding", "power_of_two"):
        policy = BalancingPolicy(strategy=strategy)
        assert {pool.pick(policy).url for _ in range(10)} == {B}


def test_set_urls_adds_a_replica_and_keeps_state():
    pool, events = make_pool()
    policy = BalancingPolicy()
    fail(pool, B, policy, 5)
    removed = pool.set_urls([A, B, C])
    assert removed == []
    assert pool.find(B).ejected
    assert (C, False) in events
    assert C in {pool.pick(policy).url for _ in range(4)}
    assert pool.set_urls([A, C]) == [B]


def test_every_replica_ejected_by_hand_list_change_still_routes():
    pool, _ = make_pool()
    pool.eject(pool.find(B), None)
    pool.set_urls([B])
    assert pool.pick(BalancingPolicy()).url == B


def test_ejecting_by_hand_pins_a_replica_that_outlier_detection_ejected_for_a_while():
    """The auto-responder's eject must hold even when outlier detection got there first:
    otherwise the failing replica comes back when its outlier ejection time is over."""
    clock = Clock()
    pool, events = make_pool(clock=clock)
    policy = BalancingPolicy()
    fail(pool, B, policy, 5)
    assert pool.find(B).ejected and not pool.find(B).manual
    assert pool.eject(pool.find(B), None) is True
    clock.now += policy.max_ejection_s * 10
    assert pool.find(B).ejected
    assert {pool.pick(policy).url for _ in range(10)} == {A}
    assert pool.eject(pool.find(B), None) is False  # already out by hand: nothing changes
    assert pool.uneject(pool.find(B)) is True
    assert not pool.find(B).ejected
