"""What the gateway answers with when an upstream fails: degraded, but an answer.

- default features when the feature store fails: the vector set in the policy, else the
  mean of recent successful lookups (zeros before any);
- the cached answer for the entity (a small LRU of recent predictions) when every
  classifier replica fails;
- else the most frequent class predicted so far.
Every such answer is flagged ``"degraded": true`` with its reasons.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from gameday_services.gateway.policy import FEATURE_COUNT, FallbackPolicy
from gameday_services.gateway.window import Clock

MEAN_DECAY = 0.01  # weight of a new lookup in the running mean of features


class DefaultFeatures:
    """A configured default vector, or an exponentially weighted mean of seen features."""

    def __init__(self) -> None:
        self.mean = [0.0] * FEATURE_COUNT
        self.seen = 0

    def observe(self, features: list[float]) -> None:
        self.seen += 1
        weight = max(MEAN_DECAY, 1.0 / self.seen)
        self.mean = [m + weight * (f - m) for m, f in zip(self.mean, features, strict=True)]

    def vector(self, policy: FallbackPolicy) -> list[float]:
        if policy.default_feature_vector is not None:
            return list(policy.default_feature_vector)
        return [round(m, 6) for m in self.mean]


@dataclass
class Prediction:
    cls: int
    label: str
    probabilities: list[float] | None
    model_version: str | None
    replica: str | None = None
    degraded_reasons: list[str] = field(default_factory=list)


class PredictionCache:
    """The last good prediction per entity: LRU with a maximum age."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, Prediction]] = OrderedDict()

    def put(self, entity_id: str, prediction: Prediction, policy: FallbackPolicy) -> None:
        self._items[entity_id] = (self.clock(), prediction)
        self._items.move_to_end(entity_id)
        while len(self._items) > policy.cache_size:
            self._items.popitem(last=False)

    def get(self, entity_id: str, policy: FallbackPolicy) -> Prediction | None:
        item = self._items.get(entity_id)
        if item is None:
            return None
        stored_at, prediction = item
        if self.clock() - stored_at > policy.cache_max_age_s:
            del self._items[entity_id]
            return None
        self._items.move_to_end(entity_id)
        return prediction

    def __len__(self) -> int:
        return len(self._items)


class ClassTally:
    """How often each class was predicted, with the label it carried."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.labels: dict[int, str] = {}

    def add(self, prediction: Prediction) -> None:
        self.counts[prediction.cls] += 1
        self.labels[prediction.cls] = prediction.label

    def most_frequent(self) -> Prediction | None:
        if not self.counts:
            return None
        cls, _ = self.counts.most_common(1)[0]
        return Prediction(cls=cls, label=self.labels[cls], probabilities=None,
                          model_version=None)


class Fallbacks:
    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.features = DefaultFeatures()
        self.cache = PredictionCache(clock)
        self.tally = ClassTally()

    def remember(self, entity_id: str, prediction: Prediction, policy: FallbackPolicy) -> None:
        """Keep a good (not degraded) prediction for later fallbacks."""
        self.cache.put(entity_id, prediction, policy)
        self.tally.add(prediction)

    def answer_for(self, entity_id: str, policy: FallbackPolicy) -> tuple[Prediction, str] | None:
        """A fallback prediction and its kind, or None when none is switched on or known."""
        if policy.cached_answer:
            cached = self.cache.get(entity_id, policy)
            if cached is not None:
                return cached, "cached_answer"
        if policy.most_frequent_class:
            frequent = self.tally.most_frequent()
            if frequent is not None:
                return frequent, "most_frequent_class"
        return None
