"""The real Prometheus and Alertmanager: running their binaries beside a stack, their
HTTP APIs (also spoken by the embedded engine), and Alertmanager's webhook payloads."""
