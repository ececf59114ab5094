"""Chaos Toolkit probes: numbers and booleans read from the run's query API.

Metrics are read through ``gameday.prometheus.api.PrometheusAPI(state.query_url)`` (the
embedded engine's or real Prometheus's); nothing here scrapes a service. Probes return
floats (for ``range`` tolerances) or bools, and raise ActivityFailed with the reason.
"""

from __future__ import annotations

import math

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from gameday.chaos.context import activity, resolve
from gameday.durations import parse_prometheus_duration
from gameday.errors import ValidationError

__all__ = ["alert_firing", "error_budget_remaining", "error_ratio", "latency_quantile",
           "model_quality", "service_ready", "slo_burn_rate", "ttft_quantile"]

HEALTH_ROUTES = "/healthz|/readyz|/metrics"


def _api(run, configuration):
    from gameday.prometheus.api import PrometheusAPI
    from gameday.stack.state import read_state

    r = resolve(run, configuration)
    with activity(f"run {r.id}"):
        state = read_state(r.state_path)
    if not state.query_url:
        raise ActivityFailed(f"run {r.id}: no query API in stack.json; is the stack running?")
    return PrometheusAPI(state.query_url)


def query(expr: str, run=None, configuration=None) -> list:
    """Instant query ``expr``: a list of VectorSample (labels, value)."""
    api = _api(run, configuration)
    try:
        with activity(f"query {expr!r}"):
            return api.query(expr)
    finally:
        api.close()


def _total(samples) -> float:
    return math.fsum(s.value for s in samples if not math.isnan(s.value))


def _window(window: str) -> str:
    try:
        parse_prometheus_duration(window, "window", single_unit=True)
    except ValidationError:
        raise ActivityFailed(f"window: a PromQL duration like 30s or 1m, got {window!r}") \
            from None
    return window


def _quote(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def _http_selector(service: str, route: str | None) -> str:
    route_m = f'route="{_quote(route)}"' if route else f'route!~"{HEALTH_ROUTES}"'
    return f'service="{_quote(service)}",{route_m}'


def error_ratio(service: str = "gateway", route: str | None = None, window: str = "30s",
                run: str | None = None, configuration: Configuration = None,
                secrets: Secrets = None) -> float:
    """Share of 5xx answers of ``service`` (one route, or all but health checks) over
    ``window``; 0.0 when there was no traffic."""
    sel = _http_selector(service, route)
    w = _window(window)
    total = _total(query(f"sum(rate(http_requests_total{{{sel}}}[{w}]))", run, configuration))
    if total <= 0:
        return 0.0
    errors = _total(query(f'sum(rate(http_requests_total{{{sel},code=~"5.."}}[{w}]))',
                          run, configuration))
    return errors / total


def _bucket_quantile(metric: str, selector: str, quantile: float, window: str, run,
                     configuration) -> float:
    from gameday.engine.promql_histogram import bucket_quantile

    if not 0 <= float(quantile) <= 1:
        raise ActivityFailed(f"quantile: must be in 0..1, got {quantile!r}")
    series = f"{metric}_bucket{{{selector}}}" if selector else f"{metric}_bucket"
    expr = f"sum by (le) (rate({series}[{_window(window)}]))"
    buckets = []
    for s in query(expr, run, configuration):
        try:
            buckets.append((float(s.labels["le"]), s.value))
        except (KeyError, ValueError):
            continue
    value = bucket_quantile(float(quantile), buckets)
    return 0.0 if math.isnan(value) else value


def latency_quantile(service: str = "gateway", route: str | None = None,
                     quantile: float = 0.99, window: str = "30s", run: str | None = None,
                     configuration: Configuration = None, secrets: Secrets = None) -> float:
    """Latency quantile in seconds (histogram_quantile over
    http_request_duration_seconds_bucket); 0.0 when there was no traffic."""
    return _bucket_quantile("http_request_duration_seconds", _http_selector(service, route),
                            quantile, window, run, configuration)


def ttft_quantile(quantile: float = 0.95, window: str = "30s", run: str | None = None,
                  configuration: Configuration = None, secrets: Secrets = None) -> float:
    """Time to first token of the llm service in seconds
    (llm_time_to_first_token_seconds); 0.0 when nothing was generated."""
    return _bucket_quantile("llm_time_to_first_token_seconds", "", quantile, window, run,
                            configuration)


def _slo_samples(metric: str, slo: str, run, configuration) -> list:
    return [s for s in query(metric, run, configuration)
            if slo in (s.labels.get("sloth_id"), s.labels.get("sloth_slo"))]


def _known_slo(slo: str, run, configuration) -> list:
    budgets = _slo_samples("slo:error_budget:ratio", slo, run, configuration)
    if not budgets:
        have = sorted({s.labels.get("sloth_slo", "?")
                       for s in query("slo:error_budget:ratio", run, configuration)})
        raise ActivityFailed(f"slo {slo!r}: no such SLO in the rules the query API runs; "
                             f"have: {', '.join(have) or 'none'}")
    return budgets


def slo_burn_rate(slo: str, window: str = "1m", run: str | None = None,
                  configuration: Configuration = None, secrets: Secrets = None) -> float:
    """Burn rate of SLO ``slo`` (sloth_slo or sloth_id) over ``window``: the error ratio
    (slo:sli_error:ratio_rate<window>) over the error budget; 0.0 with no traffic.
    ``window`` must be one the rules record (drill-12h: 5s 30s 1m 2m 6m 24m 72m 12h)."""
    budget = _known_slo(slo, run, configuration)[0].value
    ratio = _slo_samples(f"slo:sli_error:ratio_rate{_window(window)}", slo, run,
                         configuration)
    values = [s.value for s in ratio if not math.isnan(s.value)]
    if not values or budget <= 0:
        return 0.0
    # Clamped at 0: counters scraped a moment apart can make a ratio slightly negative.
    return max(0.0, max(values) / budget)


def error_budget_remaining(slo: str, run: str | None = None,
                           configuration: Configuration = None,
                           secrets: Secrets = None) -> float:
    """Fraction of the period's error budget left (1 = untouched, below 0 = overspent);
    1.0 before the SLO has seen any traffic."""
    _known_slo(slo, run, configuration)
    found = _slo_samples("slo:period_error_budget_remaining:ratio", slo, run, configuration)
    values = [s.value for s in found if not math.isnan(s.value)]
    return min(1.0, min(values)) if values else 1.0  # at most 1, as negative burn above


def alert_firing(alertname: str | None = None, slo: str | None = None,
                 severity: str | None = "page", run: str | None = None,
                 configuration: Configuration = None, secrets: Secrets = None) -> bool:
    """True when an alert matching every given filter is firing (not just pending)."""
    api = _api(run, configuration)
    try:
        with activity("alerts"):
            alerts = api.alerts()
    finally:
        api.close()
    for a in alerts:
        labels = a.get("labels", {})
        if a.get("state") != "firing":
            continue
        if alertname and labels.get("alertname") != alertname:
            continue
        if slo and slo not in (labels.get("sloth_slo"), labels.get("sloth_id")):
            continue
        if severity and labels.get("sloth_severity", labels.get("severity")) != severity:
            continue
        return True
    return False


def service_ready(service: str, replica: int | None = None, run: str | None = None,
                  configuration: Configuration = None, secrets: Secrets = None) -> bool:
    """True when every replica of ``service`` (or the one given) answers 200 on /readyz."""
    from gameday.stack import admin
    from gameday.stack.health import probe_all
    from gameday.stack.state import read_state

    r = resolve(run, configuration)
    with activity(f"service_ready {service}"):
        state = read_state(r.state_path)
        procs = admin.select(state, service, "all" if replica is None else replica)
    return all(probe_all([p.url for p in procs], timeout=2.0))


def model_quality(window: str = "1m", run: str | None = None,
                  configuration: Configuration = None, secrets: Secrets = None) -> float:
    """Share of the classifier's labelled canary predictions that were correct over
    ``window`` (model_predictions_total{outcome}); 1.0 when no canary was labelled."""
    w = _window(window)
    labelled = _total(query(f'sum(rate(model_predictions_total'
                            f'{{outcome=~"correct|incorrect"}}[{w}]))', run, configuration))
    if labelled <= 0:
        return 1.0
    correct = _total(query(f'sum(rate(model_predictions_total{{outcome="correct"}}[{w}]))',
                           run, configuration))
    return correct / labelled
