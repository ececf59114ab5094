"""The drill's parts without a stack: scenarios, judging, alerts, the incident and its API."""

from __future__ import annotations

import json

import httpx
import pytest

from gameday.drill.alerts import ActiveAlert, AlertBook, from_prometheus
from gameday.drill.api import IncidentServer
from gameday.drill.incident import Incident, levers
from gameday.drill.judge import diagnosis_choices, judge_choice, pick
from gameday.drill.scenario import list_scenarios, load_scenario, parse_scenario, pick_wheel
from gameday.errors import ValidationError

EXTENSION = {
    "name": "gameday", "title": "Silent bad model", "briefing": "Users say answers are odd.",
    "severity": "SEV3", "slos": ["classifier-prediction-quality"],
    "alerts": ["ClassifierPredictionQualityBudgetBurn"],
    "runbook": "runbooks/ClassifierPredictionQualityBudgetBurn.md",
    "hints": ["Look at model quality", "Which version is live?"],
    "root_cause": "A bad model version v2 was rolled out to the classifier",
    "diagnosis": {"component": "classifier, every replica",
                  "failure_mode": "bad model version deployed"},
    "keywords": ["model|version|v2", "rollout|deploy|rolled"],
    "mitigations": [{"lever": "rollback_model", "arguments": {}, "text": "roll back"}],
    "expected": {"detect_within_s": 60, "recover_within_s": 90},
}


def write_experiment(folder, name="bad-model", extension=None, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    exp = {"title": "t", "description": "d", "method": [],
           "extensions": [extension or EXTENSION], **extra}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(exp))
    return path


def test_scenario_parsing_and_lookup(tmp_path):
    write_experiment(tmp_path, "bad-model")
    write_experiment(tmp_path, "other", {**EXTENSION, "title": "Other"})
    s = load_scenario("bad-model", tmp_path)
    assert s.title == "Silent bad model" and s.mitigations[0].lever == "rollback_model"
    assert s.detect_within_s == 60
    assert s.public(hidden=True)["name"] == "hidden"
    assert "root_cause" not in s.public()
    assert [x.name for x in list_scenarios(tmp_path)] == ["bad-model", "other"]
    assert pick_wheel(7, tmp_path).name == pick_wheel(7, tmp_path).name
    with pytest.raises(ValidationError, match="no scenario 'nope'.*have: bad-model, other"):
        load_scenario("nope", tmp_path)


def test_bad_scenarios_name_file_and_field(tmp_path):
    bad = write_experiment(tmp_path, "x", {k: v for k, v in EXTENSION.items()
                                           if k != "root_cause"})
    with pytest.raises(ValidationError, match=r"x.json: extensions\[gameday\]: missing field "
                                              r"'root_cause'"):
        parse_scenario(bad)
    bad = write_experiment(tmp_path, "y", {**EXTENSION, "mitigations": [{"text": "?"}]})
    with pytest.raises(ValidationError, match=r"mitigations\[0\]: needs a 'lever'"):
        parse_scenario(bad)
    (tmp_path / "z.json").write_text("{not json")
    with pytest.raises(ValidationError, match="z.json: not valid JSON"):
        parse_scenario(tmp_path / "z.json")


CATALOG = [{"component": c, "failure_mode": m} for c, m in (
    ("classifier, every replica", "bad model version deployed"),
    ("feature store", "slow queries, retried timeouts"), ("llm", "KV-cache slots exhausted"),
    ("classifier replica 0", "accelerator XID errors fail batches"),
    ("gateway, incoming traffic", "demand above capacity, nothing shed"),
    ("classifier replica 1", "crash loop: exits after each start"))]


def test_judging_a_diagnosis_by_choice_not_by_words():
    key = EXTENSION["diagnosis"]
    choices = diagnosis_choices(key, CATALOG, seed="run-1")
    assert key["component"] in choices["components"] and len(choices["components"]) == 4
    assert key["failure_mode"] in choices["failure_modes"]
    assert len(choices["failure_modes"]) == 5
    assert choices == diagnosis_choices(key, CATALOG, seed="run-1")  # stable for a drill
    assert judge_choice(key["component"], key["failure_mode"], key)["correct"] is True
    wrong = next(c for c in choices["components"] if c != key["component"])
    judged = judge_choice(wrong, key["failure_mode"], key)
    assert judged["correct"] is False and judged["why"] == "failure mode right, component wrong"
    n = choices["components"].index(key["component"]) + 1
    assert pick(str(n), choices["components"], "component") == key["component"]
    assert pick(key["component"].upper(), choices["components"], "c") == key["component"]
    with pytest.raises(ValueError, match="component: 'not the kv cache' is not one of"):
        pick("not the kv cache", choices["components"], "component")


def test_alert_book_fires_pages_and_resolves():
    events = []
    book = AlertBook(lambda kind, **f: events.append((kind, f)),
                     burn_rate=lambda slo, severity: 21.5)
    prom = {"state": "firing", "labels": {"alertname": "GatewayAvailabilityBudgetBurn",
                                          "sloth_id": "gateway-gateway-availability",
                                          "sloth_severity": "page"},
            "annotations": {"runbook_url": "runbooks/GatewayAvailabilityBudgetBurn.md",
                            "summary": "burning"}}
    alert = from_prometheus(prom)
    assert from_prometheus({**prom, "state": "pending"}) is None
    book.replace([alert])
    book.replace([alert])  # still firing: nothing new
    book.replace([])
    assert [k for k, _ in events] == ["alert_firing", "page", "alert_resolved"]
    page = events[1][1]
    assert page["burn_rate"] == 21.5 and page["slo_id"] == "gateway-gateway-availability"
    assert page["runbook_url"].endswith("GatewayAvailabilityBudgetBurn.md")
    ticket = ActiveAlert("X", "ticket", "s", None, None, 0.0)
    book.notice(ticket, firing=True)
    assert events[-1][0] == "ticket"


def test_incident_actions_and_api(tmp_path):
    scenario = parse_scenario(write_experiment(tmp_path / "exp"))
    events = []
    inc = Incident(str(tmp_path), scenario, lambda kind, **f: events.append((kind, f)) or f)
    assert inc.act("ack", {"who": "ann"})[0] == 409  # no page yet
    inc.paged({"alert": "ClassifierPredictionQualityBudgetBurn"})
    server = IncidentServer("s3cret", inc.act, lambda body: (200, {"ok": True})).start()
    try:
        auth = {"Authorization": "Bearer s3cret"}
        assert httpx.post(server.url + "/incident/ack", json={}).status_code == 401
        assert httpx.post(server.url + "/incident/ack", json={},
                          headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = httpx.post(server.url + "/incident/ack", json={"who": "ann"}, headers=auth)
        assert r.status_code == 200 and "acknowledged" in r.json()["message"]
        r = httpx.post(server.url + "/incident/hint", json={}, headers=auth)
        assert r.json()["hint"] == "Look at model quality"
        r = httpx.post(server.url + "/incident/mitigate", json={"lever": "inject_fault"},
                       headers=auth)
        assert r.status_code == 400 and "unknown lever 'inject_fault'" in r.json()["message"]
        r = httpx.post(server.url + "/incident/diagnose",
                       json={"who": "ann", "text": "bad model version v2 rollout"}, headers=auth)
        assert r.status_code == 200 and "not judged" in r.json()["message"]  # words only
        key = EXTENSION["diagnosis"]
        r = httpx.post(server.url + "/incident/diagnose", headers=auth, json={
            "who": "ann", "component": key["component"], "failure_mode": key["failure_mode"],
            "text": "canary accuracy fell to 40% after the deploy"})
        assert r.status_code == 200
        r = httpx.post(server.url + "/incident/judge", headers=auth,
                       json={"who": "fac", "correct": False})
        assert r.status_code == 400 and "needs a reason" in r.json()["message"]
        # resolving before the steady state holds again is refused, with the reason
        r = httpx.post(server.url + "/incident/resolve", json={"who": "ann"}, headers=auth)
        assert r.status_code == 409 and "steady-state hypothesis does not hold" in \
            r.json()["message"]
        inc.recovered_at = 1.0
        r = httpx.post(server.url + "/incident/role", json={"who": "bob", "role": "pilot"},
                       headers=auth)
        assert r.status_code == 400 and "unknown role 'pilot'" in r.json()["message"]
        status = httpx.get(server.url + "/incident", headers=auth).json()
        assert status["acked_at"] and status["hints"] == ["Look at model quality"]
        assert "rollback_model" in [lv["lever"] for lv in status["levers"]]
        assert httpx.post(server.url + "/incident/resolve", json={}, headers=auth).json()["ok"]
        assert httpx.post(server.url + "/incident/bogus", json={}, headers=auth
                          ).status_code == 404
    finally:
        server.stop()
    kinds = [k for k, _ in events]
    assert kinds == ["ack", "hint", "diagnosis", "diagnosis", "resolve_refused", "resolve"]
    assert events[2][1]["correct"] is None and events[3][1]["correct"] is True
    assert "inject_fault" not in levers() and "rollback_model" in levers()


def test_a_scenario_can_ask_for_its_stack(tmp_path):
    path = write_experiment(tmp_path, "leak", {**EXTENSION, "stack": {
        "memory_limits": {"classifier": "200M"}, "replicas": {"classifier": 3},
        "sets": ["gateway.retry.max_attempts=2"]}})
    args = parse_scenario(path).stack_args()
    assert args == {"replicas": ["classifier=3"], "memory_limits": ["classifier=200M"],
                    "sets": ["gateway.retry.max_attempts=2"]}
    from gameday.stack.spec import build_spec

    spec = build_spec(free_ports=True, **args)
    assert spec.service("classifier").memory_limit_mb == 200
    bad = write_experiment(tmp_path, "bad", {**EXTENSION, "stack": {"gpus": 1}})
    with pytest.raises(ValidationError, match=r"stack: unknown field\(s\) gpus"):
        parse_scenario(bad)


def test_a_page_reports_the_burn_its_alert_saw_not_a_lagging_recording(tmp_path):
    """Prometheus gives every rule group its own phase: the group recording
    slo:current_burn_rate:ratio can run just before the alert's group sees a sudden burn.
    The page reads the rule's expression over the SLI ratios the alert read, so it says
    the burn that paged (here 80x), not the previous evaluation's 0x."""
    from gameday.drill.alerts import burn_rate_reader
    from gameday.engine.embedded import EmbeddedEngine
    from gameday.resources import rule_files, rules_dir

    engine = EmbeddedEngine(rule_files(rules_dir("drill-12h")))
    base = {"__name__": "http_request_duration_seconds", "service": "gateway",
            "route": "/v1/classify", "method": "POST"}
    fast = total = 0
    for second in range(0, 21):
        total += 100
        fast += 100 if second < 15 else 20  # from 15 s on, 80% of answers are slow
        engine.store.append({**base, "__name__": "http_request_duration_seconds_bucket",
                             "le": "0.3"}, 1000.0 + second, fast)
        engine.store.append({**base, "__name__": "http_request_duration_seconds_count"},
                            1000.0 + second, total)
    groups = {g.name.split("-")[2]: g for g in engine.groups if g.name.endswith(
        "gateway-gateway-classify-latency")}
    for t in (1013.0, 1014.0):
        groups["meta"].evaluate(engine.store, t - 0.5)  # its phase: just before the others
        groups["sli"].evaluate(engine.store, t)
    groups["sli"].evaluate(engine.store, 1020.0)  # the burn is here
    engine.last_tick = 1020.0

    class Api:  # what the controller's query client answers: instant queries at last_tick
        def query(self, expr):
            return [type("Sample", (), {"value": v}) for _, v in engine.query(expr)]

    slo = "gateway-gateway-classify-latency"
    assert burn_rate_reader(Api())(slo) == 0.0  # the series: 0x from before the burn
    assert burn_rate_reader(Api(), "drill-12h")(slo) == pytest.approx(80.0)


def test_a_ticket_reports_the_burn_it_fired_on_not_the_current_one():
    """A ticket fires on its 2m and 24m windows, often after the errors have stopped: the
    current burn (the 5s window) is 0x then, and "burning too fast, burn 0x" tells the
    responder nothing. Page and ticket each report the short window of the condition that
    fired."""
    from gameday.drill.alerts import burn_rate_reader
    from gameday.engine.embedded import EmbeddedEngine
    from gameday.resources import rule_files, rules_dir

    engine = EmbeddedEngine(rule_files(rules_dir("drill-12h")))
    base = {"service": "gateway", "route": "/v1/classify", "method": "POST"}
    fast = total = 0
    for second in range(0, 201):
        total += 100
        fast += 50 if 100 <= second < 190 else 100  # half slow from 100 s to 190 s
        engine.store.append({**base, "__name__": "http_request_duration_seconds_bucket",
                             "le": "0.3"}, 1000.0 + second, fast)
        engine.store.append({**base, "__name__": "http_request_duration_seconds_count"},
                            1000.0 + second, total)
    for group in engine.groups:
        if group.name.endswith("gateway-gateway-classify-latency"):
            group.evaluate(engine.store, 1200.0)
    engine.last_tick = 1200.0

    class Api:
        def query(self, expr):
            return [type("Sample", (), {"value": v}) for _, v in engine.query(expr)]

    slo = "gateway-gateway-classify-latency"
    read = burn_rate_reader(Api(), "drill-12h")
    # the errors stopped 10 s ago: nothing in the 5s window
    assert read(slo, "ticket") > 3 and burn_rate_reader(Api())(slo) == 0.0
    # 2m window: 90 s of 120 half slow, a 37.5x burn on a 1% budget; the page's 6x
    # condition (30s, 6m) holds too, on 20 s of 30 half slow: 33x
    assert read(slo, "ticket") == pytest.approx(37.5, rel=0.1)
    assert read(slo, "page") == pytest.approx(33.3, rel=0.1)
