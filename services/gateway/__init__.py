"""The public gateway: routing, timeouts, retries with a budget, circuit breakers,
admission control, fallbacks and load balancing with outlier ejection."""
