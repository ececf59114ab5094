"""score.json from a synthetic drill: phases, durations, budget, failures, verdict."""

import json

import pytest

from gameday.report import compute_score, write_score
from tests.unit.test_report_support import DRILL, EVENTS, START, make_run


@pytest.fixture(scope="module")
def score(tmp_path_factory):
    return compute_score(make_run(tmp_path_factory.mktemp("score")))


def test_phases_and_durations_from_impact_start(score):
    # the lever at +80 s failed, so mitigation is the one at +85 s that helped
    assert score["phases"] == {"impact_start": START + 60, "detected": START + 64,
                               "acknowledged": START + 70, "mitigated": START + 85,
                               "recovered": START + 100, "resolved": None}
    # time to detect = alert_firing - fault_start, and so on
    assert score["durations_s"] == {"detect": 4.0, "acknowledge": 10.0, "mitigate": 25.0,
                                    "recover": 40.0, "resolve": None}
    assert score["scenario"] == "classifier-outage" and score["mode"] == "auto"
    assert score["partial"] is False
    assert score["window"]["start"] == START and score["window"]["end"] == START + 179


def test_budget_consumed_by_the_burst_only(score):
    slos = {s["slo_id"]: s for s in score["slos"]}
    gw = slos.pop("gateway-gateway-availability")
    # 30 s of 100% errors at 99.9% over a 12 h period: 30 * 1000 / 43200 = 0.694
    assert gw["budget_consumed"] == pytest.approx(30 * 1000 / 43200, rel=0.05)
    assert gw["peak_burn"] == pytest.approx(1000, rel=0.01) and gw["traffic"] is True
    assert slos and all(s["budget_consumed"] == pytest.approx(0, abs=1e-6)
                        for s in slos.values())


def test_failed_requests_counted(score):
    # 30 s at 20 rps, half 503 (the 5xx series is born mid-run, from 0)
    assert score["requests"]["failed"] == 300
    assert score["requests"]["fallbacks"] == 300
    assert 3500 <= score["requests"]["total"] <= 3600


def test_alert_pages_diagnosis_mitigations(score):
    assert score["detecting_alert"]["alert"] == "GatewayAvailabilityBudgetBurn"
    assert score["detecting_alert"]["ts"] == START + 64
    assert len(score["pages"]) == 1 and score["pages"][0]["severity"] == "page"
    assert score["diagnosis"]["correct"] is True
    assert score["diagnosis"]["expected"] == "classifier returns 503"
    assert [(m["lever"], m["ok"]) for m in score["mitigations"]] == \
        [("classifier.restart", False), ("faults.clear", True)]
    assert score["verdict"]["result"] == "pass"
    assert {c["check"] for c in score["verdict"]["checks"]} == {"detect", "recover",
                                                                "diagnosis"}


def test_verdict_follows_the_points_against_tighter_expectations(tmp_path):
    drill = dict(DRILL, expected={"detect_s": 2, "recover_s": 120})
    score = compute_score(make_run(tmp_path, drill=drill))
    # a late detection costs its 10 points; the failed restart costs 2: 88% still passes
    assert score["points"]["percent"] == 88.0
    assert score["verdict"]["result"] == "pass"
    assert "detect: 4 s after impact, limit 2 s" in score["verdict"]["reasons"]
    drill = dict(DRILL, expected={"detect_s": 2, "mitigate_s": 10, "recover_s": 30})
    (tmp_path / "late").mkdir()
    score = compute_score(make_run(tmp_path / "late", drill=drill))
    assert score["points"]["percent"] == 33.0  # 15 ack + 20 diagnosis - 2, of 100
    assert score["verdict"]["result"] == "fail"
    assert "score 33% is under the pass mark 60%" in score["verdict"]["reasons"]


def test_partial_run_gives_nulls(tmp_path):
    events = [e for e in EVENTS if e[1] == "fault_start"]
    score = compute_score(make_run(tmp_path, events=events, drill=None, seconds=75))
    assert score["phases"]["impact_start"] == START + 60
    assert all(score["phases"][k] is None for k in ("detected", "acknowledged", "mitigated",
                                                     "recovered"))
    assert all(v is None for v in score["durations_s"].values())
    assert score["partial"] is True and score["verdict"]["result"] == "incomplete"
    assert score["diagnosis"] is None and score["detecting_alert"] is None
    assert score["requests"]["failed"] == 150  # 15 s of the burst were recorded


def test_no_recording_still_scores(tmp_path):
    run = make_run(tmp_path)
    (run / "recording.jsonl.gz").unlink()
    score = compute_score(run)
    assert score["requests"]["failed"] is None and score["slos"] == []
    assert any("recording.jsonl.gz" in n for n in score["notes"])


def test_write_score_is_atomic_json(tmp_path):
    run = make_run(tmp_path)
    path = write_score(run)
    assert path == run / "score.json"
    body = json.loads(path.read_text())
    assert body["version"] == 1 and body["durations_s"]["detect"] == 4.0
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_a_lever_is_credited_with_a_recovery_only_while_the_fault_is_on(tmp_path):
    from gameday.report.grading import grade
    from gameday.report.run import load_run
    from gameday.report.score import metrics_for

    metrics = metrics_for(load_run(make_run(tmp_path)))
    sid = "gateway-gateway-availability"
    # pulled during the burst (60-90 s), steady state back 5 s later, fault still on
    helped = grade(metrics, sid, "eject_replica", True, START + 66, None,
                   recovered=START + 71, fault_end=START + 90)
    assert helped["grade"] == "helped" and "held again 5 s after it" in helped["why"]
    # the same lever, but the recovery came only after the fault ran out: not its doing
    ran_out = grade(metrics, sid, "eject_replica", True, START + 66, START + 80,
                    recovered=START + 95, fault_end=START + 90)
    assert ran_out["grade"] != "helped", ran_out
    # a lever pulled while nothing burned did nothing
    idle = grade(metrics, sid, "eject_replica", True, START + 20, None, fault_start=START + 60)
    assert idle["grade"] == "no effect" and "nothing was burning" in idle["why"]
    assert grade(metrics, sid, "clear_faults", True, START + 66, None)["grade"] == "reverted"
    assert grade(metrics, sid, "eject_replica", False, START + 66, None)["grade"] == "failed"


def test_a_lever_pulled_in_a_clean_lull_of_an_alerting_incident_is_judged_by_its_alerts(
        tmp_path):
    """Outlier ejection can give ten clean seconds in the middle of an incident: an alert
    still firing on the SLO says it burns, so the right lever pulled then is not 'nothing
    was burning'; a wrong one is not credited when the errors come back and page again."""
    from gameday.report.grading import AlertState, grade
    from gameday.report.run import load_run
    from gameday.report.score import metrics_for

    def alerts(*spans, name="page"):
        return AlertState([c for a, b in spans for c in ((START + a, name, True),
                                                         (START + b, name, False))])

    # errors 60-90 s, a clean spell, errors again from 112 s (the spell ends, as ejection's
    # 30 s do); the lever at 100 s, with nothing failing in the 10 s before it
    (tmp_path / "relapse").mkdir()
    (tmp_path / "fixed").mkdir()
    relapse = metrics_for(load_run(make_run(tmp_path / "relapse",
                                            bursts=((60, 90), (112, 150)))))
    metrics = metrics_for(load_run(make_run(tmp_path / "fixed")))
    sid = "gateway-gateway-availability"
    t = START + 100

    def judge(data, recovered=t + 5, **alerting):
        return grade(data, sid, "eject_replica", True, t, None, recovered=recovered,
                     fault_end=t + 60, **alerting)

    # the page still firing when pulled, the steady state back 5 s later with the fault on,
    # and the page a few seconds behind the fix (its windows catching up), errors gone
    held = judge(metrics, paging=alerts((64, 108)), alerting=alerts((64, 108)))
    assert held["grade"] == "helped" and held["before"] == 0.0, held
    assert "(the page firing)" in held["why"] and "held again 5 s after it" in held["why"]
    # a ticket firing says the same as a page (a slow burn opens with a ticket)
    ticket = judge(metrics, alerting=alerts((64, 200), name="ticket"))
    assert ticket["grade"] == "helped" and "(the ticket firing)" in ticket["why"], ticket
    # the steady state seen again, but the errors came back and paged before the end:
    # a clean spell of the system's own, not the lever's doing
    for page in (alerts((64, 103), (114, 200)), alerts((64, 200))):
        refired = judge(relapse, paging=page, alerting=page)
        assert refired["grade"] != "helped", refired
    # no alert firing and a clean window before it: nothing was burning, whatever followed
    quiet = judge(metrics, paging=alerts((64, 95)), alerting=alerts((64, 95)))
    assert quiet["grade"] == "no effect" and "nothing was burning" in quiet["why"], quiet
    # no recovery seen and the page still firing at the end of its 45 s: no credit
    still = judge(metrics, recovered=None, paging=alerts((64, 1000)),
                  alerting=alerts((64, 1000)))
    assert still["grade"] == "no effect" and "page was still firing" in still["why"], still
    # the page stopped within its 45 s and no error came back: the burn it stopped is gone
    stopped = judge(metrics, recovered=None, paging=alerts((64, 120)),
                    alerting=alerts((64, 120)))
    assert stopped["grade"] == "helped", stopped


def test_errors_stopped_by_the_gateway_pool_are_not_credited_to_a_lever_off_the_pool(
        tmp_path):
    """Seen in CI: outlier detection ejects the failing replica for 30 s, 60 s, ... and its
    errors stop until it is let back. A lever that cannot change the pool (a feature-store
    timeout) pulled just before such a spell is not credited with it, by the burn falling
    or by the steady state coming back; a lever on the pool still is."""
    from gameday.report.grading import grade
    from gameday.report.run import load_run
    from gameday.report.score import metrics_for
    from tests.unit.test_report_support import BAD_REPLICA, GOOD_REPLICA

    # errors 60-72 s; outlier detection has the bad replica out from 72 s to 132 s
    run = load_run(make_run(tmp_path, bursts=((60, 72),), ejected=((72, 132),)))
    metrics = metrics_for(run)
    assert metrics.out_of_pool([BAD_REPLICA, GOOD_REPLICA], START + 80, START + 81) == \
        [BAD_REPLICA]
    assert metrics.out_of_pool([BAD_REPLICA], START + 40, START + 70) == []
    sid = "gateway-gateway-availability"
    timeout = {"policy": {"timeouts": {"features_s": 0.4}}}
    balancing = {"policy": {"balancing": {"base_ejection_s": 300}}}

    def judge(lever, args, faulted=None, **kw):
        faulted = {"classifier-0": BAD_REPLICA} if faulted is None else faulted
        return grade(metrics, sid, lever, True, START + 68, START + 91, fault_end=START + 91,
                     args=args, faulted=faulted, **kw)

    # the burn fell to nothing in (81, 91], the 10 s before the next lever
    fell = judge("set_gateway_policy", timeout)
    assert fell["grade"] == "no effect", fell
    assert f"faulted replica {BAD_REPLICA} out of its pool" in fell["why"], fell
    # the steady state came back at 80 s with the replica out by outlier detection
    back = judge("set_gateway_policy", timeout, recovered=START + 80)
    assert back["grade"] == "no effect" and "held again 12 s after it, but" in back["why"]
    # levers on the pool: ejecting by hand, outlier detection's own settings
    for lever, args in (("eject_replica", {"upstream": "classifier", "replica": 0}),
                        ("set_gateway_policy", balancing)):
        assert judge(lever, args)["grade"] == "helped", lever
        assert judge(lever, args, recovered=START + 80)["grade"] == "helped", lever
    # the good replica was never out: nothing hid the faulted one's errors
    assert judge("set_gateway_policy", timeout,
                 faulted={"classifier-1": GOOD_REPLICA})["grade"] == "helped"
    # no stack to say which replica was faulted: judged by the burn alone, as before
    assert judge("set_gateway_policy", timeout, faulted={})["grade"] == "helped"
    # a pool lever on the wrong replica: ejecting the healthy one (by index, URL or
    # host:port) while outlier detection has the faulted one out is not credited
    for replica in (1, GOOD_REPLICA, GOOD_REPLICA.split("//")[1]):
        wrong = judge("eject_replica", {"upstream": "classifier", "replica": replica})
        assert wrong["grade"] == "no effect" and "out of its pool" in wrong["why"], replica
    for replica in (0, BAD_REPLICA, BAD_REPLICA.split("//")[1]):
        assert judge("eject_replica", {"upstream": "classifier", "replica": replica})[
            "grade"] == "helped", replica
    assert judge("restart_service", {"service": "classifier", "replica": 0})["grade"] == \
        "helped"
    assert judge("restart_service", {"service": "features"})["grade"] == "no effect"
    assert judge("scale_service", {"service": "classifier", "replicas": 3})["grade"] == \
        "helped"


def test_the_faulted_replicas_are_read_from_the_timeline_and_stack_json():
    from gameday.report.grading import faulted_endpoints
    from gameday.timeline import parse_event

    stack = {"processes": [{"id": "classifier-0", "url": "http://127.0.0.1:1"},
                           {"id": "classifier-1", "url": "http://127.0.0.1:2"},
                           {"id": "features-0", "url": "http://127.0.0.1:3"}]}
    events = [parse_event(e, "test") for e in (
        {"ts": 1.0, "kind": "fault_start", "processes": ["classifier-1"]},
        {"ts": 2.0, "kind": "fault_start", "processes": "bad"},
        {"ts": 3.0, "kind": "mitigation", "processes": ["features-0"]})]
    assert faulted_endpoints(events, stack) == {"classifier-1": "http://127.0.0.1:2"}
    assert faulted_endpoints(events, {}) == {} and faulted_endpoints(events, None) == {}
