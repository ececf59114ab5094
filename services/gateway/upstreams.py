"""Replica pools: load balancing and Envoy-like outlier ejection.

A replica is ejected after ``consecutive_failures`` 5xx / connect failures / timeouts in a
row, for ``base_ejection_s`` times the number of times it has been ejected (capped at
``max_ejection_s``), then re-admitted. At most ``max_ejection_percent`` of the pool is
ejected (at least one replica may be, when the percent is above zero) and one replica
always stays. A replica ejected by hand stays out until it is un-ejected by hand.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from gameday_services.gateway.policy import BalancingPolicy
from gameday_services.gateway.window import Clock

log = logging.getLogger("services.gateway")


@dataclass
class Replica:
    url: str
    outstanding: int = 0
    consecutive_failures: int = 0
    ejected_until: float | None = None
    times_ejected: int = 0
    manual: bool = False
    requests: int = 0
    failures: int = 0

    @property
    def ejected(self) -> bool:
        return self.ejected_until is not None

    def snapshot(self, index: int, now: float) -> dict:
        remaining = None
        if self.ejected_until is not None and math.isfinite(self.ejected_until):
            remaining = round(max(0.0, self.ejected_until - now), 3)
        return {"index": index, "url": self.url, "ejected": self.ejected,
                "ejected_by_hand": self.manual, "ejection_remaining_s": remaining,
                "times_ejected": self.times_ejected, "outstanding": self.outstanding,
                "consecutive_failures": self.consecutive_failures,
                "requests": self.requests, "failures": self.failures}


class ReplicaPool:
    def __init__(self, name: str, urls: list[str], clock: Clock = time.monotonic,
                 rng: random.Random | None = None,
                 on_ejection: Callable[[str, str, bool], None] | None = None) -> None:
        self.name = name
        self.clock = clock
        self.rng = rng or random.Random()
        self.on_ejection = on_ejection
        self.replicas: list[Replica] = []
        self._next = 0
        self.set_urls(urls)

    # -- membership ---------------------------------------------------------------
    def set_urls(self, urls: list[str]) -> list[str]:
        """Replace the replica list, keeping the state of replicas that stay.
        Returns the URLs that were removed."""
        old = {r.url: r for r in self.replicas}
        self.replicas = [old.get(u) or Replica(u) for u in urls]
        removed = [u for u in old if u not in urls]
        for url in urls:
            if url not in old and self.on_ejection is not None:
                self.on_ejection(self.name, url, False)
        return removed

    def find(self, key: str) -> Replica | None:
        """A replica by index (``"0"``), full URL or ``host:port``."""
        if key.isdigit():
            index = int(key)
            return self.replicas[index] if index < len(self.replicas) else None
        key = key.rstrip("/")
        for r in self.replicas:
            if r.url == key or r.url.split("://", 1)[-1] == key:
                return r
        return None

    # -- ejection -----------------------------------------------------------------
    def refresh(self) -> None:
        """Re-admit replicas whose ejection time is over."""
        now = self.clock()
        for r in self.replicas:
            if r.ejected_until is not None and now >= r.ejected_until:
                self._readmit(r, "ejection time over")

    def available(self) -> list[Replica]:
        self.refresh()
        return [r for r in self.replicas if not r.ejected]

    def can_eject(self, policy: BalancingPolicy | None) -> bool:
        n = len(self.replicas)
        ejected = sum(r.ejected for r in self.replicas)
        if ejected + 1 >= n:
            return False  # one replica always stays
        if policy is None:
            return True
        if policy.max_ejection_percent <= 0:
            return False
        return ejected + 1 <= max(1, math.floor(n * policy.max_ejection_percent / 100))

    def eject(self, replica: Replica, policy: BalancingPolicy | None) -> bool:
        """Eject ``replica``: by hand when ``policy`` is None (until un-ejected; this also
        pins a replica that outlier detection has ejected for a while), else for the outlier
        ejection time. False when nothing changed or the limits forbid it."""
        if replica.ejected:
            if policy is None and not replica.manual:
                # outlier-ejected for a while: by hand it stays out until un-ejected, or it
                # would come back, still failing, when the outlier ejection time is over
                replica.manual = True
                replica.ejected_until = math.inf
                log.warning("replica ejection made permanent by hand",
                            extra={"upstream": self.name, "replica": replica.url})
                return True
            return False
        if not self.can_eject(policy):
            return False
        replica.times_ejected += 1
        if policy is None:
            replica.manual = True
            replica.ejected_until = math.inf
        else:
            duration = min(policy.max_ejection_s, policy.base_ejection_s * replica.times_ejected)
            replica.ejected_until = self.clock() + duration
        log.warning("replica ejected", extra={"upstream": self.name, "replica": replica.url,
                                              "by_hand": policy is None,
                                              "times_ejected": replica.times_ejected})
        if self.on_ejection is not None:
            self.on_ejection(self.name, replica.url, True)
        return True

    def uneject(self, replica: Replica) -> bool:
        if not replica.ejected:
            return False
        self._readmit(replica, "by hand")
        return True

    def _readmit(self, replica: Replica, why: str) -> None:
        replica.ejected_until = None
        replica.manual = False
        replica.consecutive_failures = 0
        log.warning("replica re-admitted", extra={"upstream": self.name, "replica": replica.url,
                                                  "why": why})
        if self.on_ejection is not None:
            self.on_ejection(self.name, replica.url, False)

    def record(self, replica: Replica, policy: BalancingPolicy, ok: bool) -> None:
        """The outcome of one attempt on ``replica`` (4xx answers count as ok)."""
        replica.requests += 1
        if ok:
            replica.consecutive_failures = 0
            return
        replica.failures += 1
        replica.consecutive_failures += 1
        if (policy.outlier_detection and replica in self.replicas
                and replica.consecutive_failures >= policy.consecutive_failures):
            self.eject(replica, policy)

    # -- balancing ----------------------------------------------------------------
    def pick(self, policy: BalancingPolicy, exclude: list[Replica] = ()) -> Replica | None:
        """The replica for the next attempt, avoiding ``exclude`` (replicas already tried)
        when another one is available. With every replica ejected, all are used (panic)."""
        candidates = self.available() or list(self.replicas)
        if not candidates:
            return None
        fresh = [r for r in candidates if r not in exclude]
        candidates = fresh or candidates
        if policy.strategy == "power_of_two" and len(candidates) > 1:
            a, b = self.rng.sample(candidates, 2)
            return a if a.outstanding <= b.outstanding else b
        if policy.strategy == "least_outstanding":
            least = min(r.outstanding for r in candidates)
            candidates = [r for r in candidates if r.outstanding == least]
        self._next += 1
        return candidates[(self._next - 1) % len(candidates)]

    def snapshot(self) -> list[dict]:
        self.refresh()
        now = self.clock()
        return [r.snapshot(i, now) for i, r in enumerate(self.replicas)]
