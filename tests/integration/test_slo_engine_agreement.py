"""The embedded rule engine agrees with the promtool unit tests generated in slos/_gen/.

For every test case of every generated ``*.test.yml`` (catalogs google-30d and drill-12h)
the case is replayed through ``gameday.engine`` the way ``promtool test rules`` runs it:
input series land at multiples of the case's ``interval``, the rule groups are evaluated
at every group interval from 0 up to the largest eval_time, and at each eval_time the
firing alerts (promtool's ``exp_alerts`` lists only firing ones) and promql_expr_test
samples are compared with the expectations.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from gameday.engine.promql import evaluate
from gameday.engine.ruleeval import FIRING, evaluate_groups, load_rule_file, parse_duration
from gameday.engine.store import SampleStore, load_series, make_labels, parse_series_selector

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT / "slos" / "_gen"
CATALOGS = ("google-30d", "drill-12h")
REL_TOL = 1e-9


def _cases() -> list:
    params = []
    for catalog in CATALOGS:
        for test_file in sorted((GEN / catalog).glob("*.test.yml")):
            service = test_file.name.removesuffix(".test.yml")
            doc = yaml.safe_load(test_file.read_text())
            for index, case in enumerate(doc.get("tests") or []):
                params.append(pytest.param(catalog, service, index,
                                           id=f"{catalog}-{service}-{index}-{case['name']}"))
    return params


CASES = _cases()


def _dur(text, where: str) -> float:
    return parse_duration(str(text), where)


def test_cases_found():
    assert len(CASES) > 0
    assert {p.values[0] for p in CASES} == set(CATALOGS)


@pytest.mark.parametrize(("catalog", "service", "index"), CASES)
def test_engine_agrees_with_promtool_case(catalog, service, index):
    test_file = GEN / catalog / f"{service}.test.yml"
    doc = yaml.safe_load(test_file.read_text())
    case = doc["tests"][index]
    where = f"{test_file.name} case {index} ({case['name']!r})"

    eval_interval = _dur(doc.get("evaluation_interval", "1m"), f"{where}: evaluation_interval")
    interval = _dur(case.get("interval", doc.get("evaluation_interval", "1m")),
                    f"{where}: interval")

    store = SampleStore()
    load_series(store, [(s["series"], str(s["values"])) for s in case.get("input_series") or []],
                start=0, step=interval)

    groups = []
    for rule_file in doc["rule_files"]:
        groups.extend(load_rule_file(test_file.parent / rule_file,
                                     default_interval=eval_interval))
    assert groups, f"{where}: no rule groups"

    # What to check at each eval_time.
    checks: dict[int, list[tuple[str, dict]]] = {}
    for test in case.get("alert_rule_test") or []:
        t = _dur(test["eval_time"], f"{where}: eval_time")
        checks.setdefault(round(t * 1000), []).append(("alert", test))
    for test in case.get("promql_expr_test") or []:
        t = _dur(test["eval_time"], f"{where}: eval_time")
        checks.setdefault(round(t * 1000), []).append(("expr", test))
    assert checks, f"{where}: nothing to check"

    # promtool steps at evaluation_interval from 0 to the largest eval_time (groups without
    # an interval get it too); evaluate_groups runs a group only once its interval passed.
    step_ms = round(eval_interval * 1000)
    end_ms = max(checks)
    failures = []
    t_ms = 0
    while t_ms <= end_ms:
        alerts = evaluate_groups(groups, store, t_ms / 1000)
        for kind, test in checks.get(t_ms, []):
            if kind == "alert":
                failures.extend(_check_alerts(where, test, alerts))
            else:
                failures.extend(_check_expr(where, test, store, t_ms / 1000))
        t_ms += step_ms
    for t in checks:
        assert t % step_ms == 0, f"{where}: eval_time {t} ms is not on the evaluation grid"
    errors = {g.name: g.errors for g in groups if g.errors}
    assert not failures, "\n".join(failures) + (f"\nrule errors: {errors}" if errors else "")


def _check_alerts(where: str, test: dict, alerts) -> list[str]:
    name = test["alertname"]
    got = sorted(a.labels for a in alerts if a.name == name and a.state == FIRING)
    want = sorted(make_labels({**{k: str(v) for k, v in (e.get("exp_labels") or {}).items()},
                               "alertname": name})
                  for e in test.get("exp_alerts") or [])
    if got != want:
        return [f"{where}: alert {name} at {test['eval_time']}:\n"
                f"  firing in engine: {[dict(x) for x in got]}\n"
                f"  expected (promtool): {[dict(x) for x in want]}"]
    return []


def _check_expr(where: str, test: dict, store: SampleStore, t: float) -> list[str]:
    expr = test["expr"]
    result = evaluate(store, expr, t)
    if isinstance(result, float):
        got = {(): result}
    else:
        got = dict(result)
    # promtool: a missing exp_samples means no samples are expected.
    want = {}
    for sample in test.get("exp_samples") or []:
        want[parse_series_selector(sample.get("labels") or "{}")
             if sample.get("labels") else ()] = float(sample["value"])
    problem = set(got) != set(want) or any(
        not (math.isclose(got[k], v, rel_tol=REL_TOL)
             or (math.isnan(got[k]) and math.isnan(v)))
        for k, v in want.items())
    if problem:
        return [f"{where}: expr {expr!r} at {test['eval_time']}:\n"
                f"  engine: {[(dict(k), v) for k, v in got.items()]}\n"
                f"  expected (promtool): {[(dict(k), v) for k, v in want.items()]}"]
    return []
