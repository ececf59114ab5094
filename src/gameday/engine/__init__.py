"""The embedded engine: scraper, sample store, PromQL evaluator, rule evaluation on
Prometheus's schedule, recordings on disk and a Prometheus-compatible query API: what
runs the generated rules when no real Prometheus does."""
