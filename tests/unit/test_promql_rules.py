import math
import textwrap

import pytest

from gameday.engine.promql import evaluate
from gameday.engine.ruleeval import (
    FIRING,
    INACTIVE,
    PENDING,
    RuleGroup,
    evaluate_groups,
    expand_template,
    go_float,
    load_rule_file,
    parse_duration,
)
from gameday.engine.store import SampleStore, load_series
from gameday.errors import ValidationError

RULES = """
groups:
  - name: sli
    interval: 10s
    rules:
      - record: job:errors:ratio_rate1m
        expr: sum by (job) (rate(req_total{code="500"}[1m])) / sum by (job) (rate(req_total[1m]))
        labels: {window: 1m}
      - record: job:errors:percent
        expr: job:errors:ratio_rate1m * 100
  - name: alerts
    interval: 10s
    rules:
      - alert: HighErrors
        expr: job:errors:ratio_rate1m > 0.2
        for: 30s
        labels: {severity: page, window: overridden}
        annotations:
          summary: "{{ $labels.job }} fails {{ $value | humanizePercentage }}"
"""


def write(tmp_path, text):
    path = tmp_path / "rules.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_load_rule_file(tmp_path):
    sli, alerts = load_rule_file(write(tmp_path, RULES))
    assert (sli.name, sli.interval, len(sli.rules)) == ("sli", 10.0, 2)
    rule = alerts.rules[0]
    assert (rule.kind, rule.name, rule.for_s) == ("alert", "HighErrors", 30.0)
    assert rule.labels == {"severity": "page", "window": "overridden"}


@pytest.mark.parametrize("text, message", [
    ("groups: [{name: g, rules: [{record: r}]}]", "group 'g': rule 1: needs 'record'"),
    ("groups: [{name: g, rules: [{record: r, expr: 'sum(('}]}]",
     "group 'g': rule 1: cannot parse PromQL 'sum(('"),
    ("groups: [{name: g, interval: 1x, rules: []}]",
     "group 'g': interval: not a Prometheus duration, got '1x'"),
    ("groups: [{rules: []}]", "every group needs a 'name'"),
    ("rules: []", "expected a mapping with a 'groups' list"),
])
def test_bad_rule_files_name_the_place(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValidationError) as info:
        load_rule_file(path)
    assert str(info.value) == f"{path}: {message}" or str(info.value).startswith(
        f"{path}: {message}")


def test_parse_duration():
    assert parse_duration("1h30m", "x") == 5400.0
    assert parse_duration("0s", "x") == 0.0
    assert parse_duration("250ms", "x") == 0.25


def run(groups, store, until, step=10):
    timeline = []
    for t in range(0, until + 1, step):
        alerts = evaluate_groups(groups, store, t)
        timeline.append((t, [(a.state, a.active_at) for a in alerts]))
    return timeline


def test_recording_rules_feed_later_rules_and_groups(tmp_path):
    groups = load_rule_file(write(tmp_path, RULES))
    store = SampleStore()
    load_series(store, [('req_total{job="gw",code="200"}', "0+9x30"),
                        ('req_total{job="gw",code="500"}', "0+1x30")], step=10)
    run(groups, store, 120)
    ratio = evaluate(store, "job:errors:ratio_rate1m", 120)
    assert ratio == [((("__name__", "job:errors:ratio_rate1m"), ("job", "gw"),
                       ("window", "1m")), pytest.approx(0.1))]
    assert [v for _, v in evaluate(store, "job:errors:percent", 120)] == [pytest.approx(10.0)]


def test_recorded_series_go_stale_when_the_rule_stops_producing_them():
    group = RuleGroup("g", 10.0, [])
    group.rules = load_rules_inline("record", "copy", "src > 0")
    store = SampleStore()
    load_series(store, [("src", "1 1 0 0")], step=10)
    for t in (0, 10, 20):
        group.evaluate(store, t)
    assert evaluate(store, "copy", 10) != []
    assert evaluate(store, "copy", 20) == []  # stale marker, not 5 minutes of lookback


def load_rules_inline(kind, name, expr, **extra):
    from gameday.engine.ruleeval import Rule

    return [Rule(name, expr, kind, **extra)]


def test_alert_goes_pending_then_firing_then_resolves(tmp_path):
    groups = load_rule_file(write(tmp_path, RULES))
    store = SampleStore()
    # errors at 50% from t=60 s to t=150 s
    load_series(store, [('req_total{job="gw",code="200"}', "0+10x6 60+5x9 105+10x20"),
                        ('req_total{job="gw",code="500"}', "0x6 0+5x9 45x20")], step=10)
    timeline = dict(run(groups, store, 300))
    first = min(t for t, a in timeline.items() if a)
    assert timeline[first] == [(PENDING, first)]
    fired = min(t for t, a in timeline.items() if a and a[0][0] == FIRING)
    assert fired == first + 30
    assert timeline[fired - 10] == [(PENDING, first)]
    resolved = min(t for t, a in timeline.items() if t > fired and not a)
    alerts = groups[1].alerts(include_inactive=True)
    assert [(a.state, a.active_at, a.fired_at, a.resolved_at) for a in alerts] == [
        (INACTIVE, first, fired, resolved)]
    labels = dict(alerts[0].labels)
    assert labels == {"alertname": "HighErrors", "job": "gw", "severity": "page",
                      "window": "overridden"}
    assert alerts[0].annotations["summary"].startswith("gw fails ")
    # ALERTS series as Prometheus writes them
    got = evaluate(store, 'ALERTS{alertname="HighErrors"}', fired)
    assert [dict(k)["alertstate"] for k, _ in got] == ["firing"]
    assert evaluate(store, "ALERTS", resolved) == []


def test_alert_with_no_for_fires_at_once_and_pending_alerts_vanish():
    group = RuleGroup("g", 10.0, load_rules_inline("alert", "Now", "x > 1") +
                      load_rules_inline("alert", "Later", "x > 1", for_s=60.0))
    store = SampleStore()
    load_series(store, [("x", "0 5 5 0")], step=10)
    states = []
    for t in (0, 10, 20, 30):
        group.evaluate(store, t)
        states.append(sorted((a.name, a.state) for a in group.alerts()))
    assert states == [[], [("Later", PENDING), ("Now", FIRING)],
                      [("Later", PENDING), ("Now", FIRING)], []]


def test_templates_and_go_float_formatting():
    labels = {"job": "gw"}
    assert expand_template("{{ $labels.job }}/{{$labels.none}}", labels, 1) == "gw/"
    assert expand_template("{{ $value }}", labels, 0.25) == "0.25"
    assert expand_template("{{ .Value | humanizePercentage }}", labels, 0.1234) == "12.34%"
    assert [go_float(v) for v in (1e6, 123456.0, 1.5e-5, 0.0001, -2.0, math.inf)] == [
        "1e+06", "123456", "1.5e-05", "0.0001", "-2", "+Inf"]


def test_groups_run_at_their_own_interval_on_wall_clock_ticks():
    group = RuleGroup("g", 10.0, load_rules_inline("record", "copy", "src"))
    store = SampleStore()
    for i in range(25):
        store.append({"__name__": "src"}, 1_764_000_000.25 + i, float(i))
        evaluate_groups([group], store, 1_764_000_000.25 + i)
    (_, ring), = store.series([("__name__", "=", "copy")])
    assert [v for _, v in ring] == [0.0, 10.0, 20.0]


def test_a_failing_rule_is_reported_and_the_group_goes_on():
    group = RuleGroup("g", 10.0, load_rules_inline("record", "bad", "x / on () x") +
                      load_rules_inline("record", "good", "sum(x)"))
    store = SampleStore()
    load_series(store, [('x{a="1"}', "1"), ('x{a="2"}', "2")])
    group.evaluate(store, 0)
    assert "many-to-many matching not allowed" in group.errors["bad"]
    assert [v for _, v in evaluate(store, "good", 0)] == [3.0]
