"""Domain metrics of the feature store, on an injected registry.

Staleness is a symptom (how old the served values are), not a fault metric: a stale store
shows up here as it would in production.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gameday.telemetry.conventions import LATENCY_BUCKETS

QUERY_OUTCOMES = ("hit", "miss", "error")
# Age of served rows: fresh rows are seconds old, a stale replica minutes to days.
STALENESS_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                     7200.0, 21600.0, 86400.0)


class FeatureMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queries = Counter(
            "feature_store_queries",
            "Store lookups by outcome: hit (entity found), miss (unknown entity), error.",
            ["outcome"],
            registry=registry,
        )
        for outcome in QUERY_OUTCOMES:
            self.queries.labels(outcome)
        self.query_duration = Histogram(
            "feature_store_query_duration_seconds",
            "Time for one store lookup, waiting for a connection included, in seconds.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.entities = Gauge(
            "feature_store_entities",
            "Entities in the store.",
            registry=registry,
        )
        self.staleness = Histogram(
            "feature_store_staleness_seconds",
            "Age of the feature values served (now minus their updated_at), in seconds.",
            buckets=STALENESS_BUCKETS,
            registry=registry,
        )
        self.last_refresh = Gauge(
            "feature_store_last_refresh_timestamp_seconds",
            "When the current feature values were last rewritten (Unix time).",
            registry=registry,
        )
