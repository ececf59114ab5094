"""Roles in the drill API (issue 19 item 2): a facilitator token and responder tokens, 401
and 403 per endpoint on a real IncidentServer on loopback, the facilitator's actions in the
timeline, the token files, and `gameday incident` with the run's responder token."""

from __future__ import annotations

import json
import os
import stat
import threading
from types import SimpleNamespace

import httpx
import pytest
from typer.testing import CliRunner

from gameday.cli.main import app
from gameday.drill.api import (
    ACTIONS,
    FACILITATOR,
    FACILITATOR_ACTIONS,
    RESPONDER,
    SYSTEM,
    Caller,
    IncidentServer,
    resolve_caller,
)
from gameday.drill.credentials import issue_credentials, validate_responders
from gameday.drill.facilitator import Facilitation
from gameday.drill.incident import Incident
from gameday.drill.scenario import parse_scenario
from gameday.errors import ValidationError
from gameday.runfolder import create_run, read_secret
from gameday.timeline import append_event, read_events

from .test_drill_parts import EXTENSION, write_experiment

CALLERS = {"fac-tok": Caller(FACILITATOR), "resp-tok": Caller(RESPONDER),
           "alice-tok": Caller(RESPONDER, "alice"), "admin-tok": Caller(SYSTEM)}


def bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def test_a_token_resolves_to_its_role_and_nothing_else_does():
    assert resolve_caller("Bearer fac-tok", CALLERS) == Caller(FACILITATOR)
    assert resolve_caller("bearer alice-tok", CALLERS) == Caller(RESPONDER, "alice")
    for header in ("", "Bearer", "Bearer ", "Basic fac-tok", "Bearer fac-tok2",
                   "Bearer fac", "fac-tok", "Bearer FAC-TOK"):
        assert resolve_caller(header, CALLERS) is None, header
    assert resolve_caller("Bearer ", {"": Caller(FACILITATOR)}) is None  # no empty token


class FakeDrill:
    """What Facilitation reads of a Drill: the incident, the phase, the clock, emit."""

    def __init__(self, run_path, scenario) -> None:
        self.run_path = None  # no stack: the fault state says so
        self.folder = run_path
        self.opt = SimpleNamespace(max_duration_s=600.0)
        self.times = {"experiment_start": 1000.0}
        self.phase = "incident"
        self.stop_event = threading.Event()
        self.outcome: dict = {}
        self.view = None
        self.experiment = None
        self.incident = Incident(str(run_path), scenario, self.emit)
        self.facilitation = Facilitation(self)

    def emit(self, kind, **fields):
        return append_event(self.folder, kind, **{k: v for k, v in fields.items()
                                                  if v is not None})

    def act(self, action, body, caller):  # as Drill._act
        return self.facilitation.refusal(action) or self.incident.act(
            action, body, role=caller.role, person=caller.name)


@pytest.fixture()
def drill(tmp_path):
    scenario = parse_scenario(write_experiment(tmp_path / "exp"))
    fake = FakeDrill(tmp_path, scenario)
    fake.incident.paged({"alert": "ClassifierPredictionQualityBudgetBurn"})
    server = IncidentServer(None, fake.act, lambda body: (200, {"ok": True}),
                            callers=lambda: CALLERS,
                            handle_facilitator=fake.facilitation.handle).start()
    fake.url = server.url
    try:
        yield fake
    finally:
        server.stop()


def test_every_endpoint_answers_401_without_a_drill_token_and_403_to_a_responder(drill):
    with httpx.Client(base_url=drill.url, timeout=5) as client:
        endpoints = [("GET", "/incident"), ("GET", "/facilitator/state")]
        endpoints += [("POST", f"/incident/{a}") for a in ACTIONS]
        endpoints += [("POST", f"/facilitator/{a}") for a in FACILITATOR_ACTIONS]
        for method, path in endpoints:
            for token in (None, "wrong", "admin-tok"):  # the admin token is no drill token
                resp = client.request(method, path, json={}, headers=bearer(token))
                assert resp.status_code == 401, (method, path, token, resp.text)
            facilitator_only = path.startswith("/facilitator/") or path == "/incident/judge"
            for token in ("resp-tok", "alice-tok"):
                resp = client.request(method, path, json={}, headers=bearer(token))
                if facilitator_only:
                    assert resp.status_code == 403, (method, path, resp.text)
                    assert "facilitator only" in resp.json()["message"]
                else:
                    assert resp.status_code not in (401, 403), (method, path, resp.text)
        # nothing facilitator-only reached the drill through a responder's token
        assert not [e for e in read_events(drill.folder)
                    if e["kind"] in ("pause", "abort", "extend", "diagnosis_judged")]
        # on loopback /alerts and /metrics need no token; /healthz never does
        assert client.post("/alerts", json={}).status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.get("/healthz").status_code == 200


def test_the_answer_key_is_the_facilitators_and_never_in_a_responders_answer(drill):
    with httpx.Client(base_url=drill.url, timeout=5) as client:
        state = client.get("/facilitator/state", headers=bearer("fac-tok")).json()
        assert state["answer_key"]["root_cause"] == EXTENSION["root_cause"]
        assert state["answer_key"]["mitigations"][0]["lever"] == "rollback_model"
        assert state["hints_remaining"] == EXTENSION["hints"]
        assert state["fault"] == {"active": [], "error": "no stack yet"}
        assert state["phase"] == "incident" and state["paused"] is False
        client.post("/incident/hint", json={}, headers=bearer("resp-tok"))
        state = client.get("/facilitator/state", headers=bearer("fac-tok")).json()
        assert state["hints_remaining"] == EXTENSION["hints"][1:]
        seen = client.get("/incident", headers=bearer("resp-tok")).text
        assert EXTENSION["root_cause"] not in seen and "answer_key" not in seen
        assert EXTENSION["hints"][1] not in seen  # a hint not taken yet


def test_facilitator_actions_are_in_the_timeline_with_who_and_role(drill):
    fac, resp, alice = bearer("fac-tok"), bearer("resp-tok"), bearer("alice-tok")
    key = EXTENSION["diagnosis"]
    with httpx.Client(base_url=drill.url, timeout=5) as c:
        assert c.post("/incident/ack", json={"who": "bob"}, headers=resp).status_code == 200
        r = c.post("/incident/note", json={"who": "mallory", "text": "x"}, headers=alice)
        assert r.status_code == 200  # a person's token acts under that person's name
        assert c.post("/facilitator/pause", json={"who": "fay", "reason": "explain SLOs"},
                      headers=fac).json()["ok"]
        assert c.post("/facilitator/pause", json={}, headers=fac).status_code == 409
        r = c.post("/incident/mitigate", json={"lever": "rollback_model"}, headers=resp)
        assert r.status_code == 409 and "paused" in r.json()["message"]
        assert c.post("/incident/note", json={"text": "while paused"},
                      headers=resp).status_code == 200
        assert c.get("/facilitator/state", headers=fac).json()["paused"] is True
        r = c.post("/facilitator/resume", json={"who": "fay"}, headers=fac)
        assert r.status_code == 200 and r.json()["paused_s"] >= 0
        assert c.post("/facilitator/resume", json={}, headers=fac).status_code == 409
        for bad in (0, -5, "60", True, 10_000):
            r = c.post("/facilitator/extend", json={"seconds": bad}, headers=fac)
            assert r.status_code == 400 and "'seconds' must be a number" in r.json()["message"]
        assert c.post("/facilitator/extend", json={"seconds": 120, "who": "fay"},
                      headers=fac).json()["extended_s"] == 120
        assert drill.facilitation.shift_s() >= 120
        c.post("/incident/diagnose", headers=resp, json={
            "who": "bob", "component": key["component"], "failure_mode": key["failure_mode"]})
        r = c.post("/facilitator/judge", json={"correct": False, "reason": "lucky guess",
                                               "who": "fay"}, headers=fac)
        assert r.status_code == 200 and "judged wrong" in r.json()["message"]
        assert drill.incident.diagnoses[-1]["correct"] is False
        r = c.post("/facilitator/abort", json={}, headers=fac)
        assert r.status_code == 400 and "needs a reason" in r.json()["message"]
        assert not drill.stop_event.is_set()
        assert c.post("/facilitator/abort", json={"reason": "fire drill", "who": "fay"},
                      headers=fac).json()["ok"]
    assert drill.stop_event.is_set()
    assert drill.outcome["aborted"] == {"by": "fay", "reason": "fire drill"}
    by_kind = {}
    for e in read_events(drill.folder):
        by_kind.setdefault(e["kind"], []).append(e)
    assert [(e["who"], e["role"]) for e in by_kind["ack"]] == [("bob", RESPONDER)]
    assert [e["who"] for e in by_kind["note"]] == ["alice", "responder"]
    for kind in ("pause", "resume", "extend", "diagnosis_judged", "abort"):
        assert [(e["who"], e["role"]) for e in by_kind[kind]] == [("fay", FACILITATOR)], kind
    assert "explain SLOs" in by_kind["pause"][0]["text"]
    assert "fault's timers stop" in by_kind["pause"][0]["text"]
    assert by_kind["extend"][0]["seconds"] == 120
    assert "fire drill" in by_kind["abort"][0]["text"]
    assert "mitigation" not in by_kind  # refused while paused


def test_beyond_loopback_every_endpoint_needs_a_token(tmp_path):
    # 127.0.0.2 is on the loopback network but not a loopback name the API trusts: it
    # behaves as any LAN address would, and the test stays on this machine
    server = IncidentServer(None, lambda a, b, c: (200, {"ok": True}),
                            lambda body: (200, {"ok": True}), host="127.0.0.2",
                            callers=lambda: CALLERS).start()
    try:
        assert server.beyond_loopback
        with httpx.Client(base_url=server.url, timeout=5) as c:
            assert c.get("/metrics").status_code == 401
            assert c.post("/alerts", json={}).status_code == 401
            assert c.get("/incident").status_code == 401
            assert c.get("/healthz").status_code == 200  # says nothing
            for token in ("resp-tok", "fac-tok", "admin-tok"):
                assert c.get("/metrics", headers=bearer(token)).status_code == 200
            assert c.post("/alerts", json={}, headers=bearer("admin-tok")).status_code == 200
            assert c.get("/incident", headers=bearer("admin-tok")).status_code == 401
    finally:
        server.stop()


def test_token_files_are_the_owners_only_and_drill_json_names_only_the_files(tmp_path):
    run = create_run(tmp_path / ".gameday", make_current=False)
    creds = issue_credentials(run, ("alice", "bob"))
    paths = [run.facilitator_token_path, run.responder_token_path,
             run.person_token_path("alice"), run.person_token_path("bob")]
    tokens = [read_secret(p) for p in paths]
    assert len(set(tokens)) == 4 and read_secret(run.token_path) not in tokens
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert creds.callers[tokens[0]] == Caller(FACILITATOR)
    assert creds.callers[tokens[2]] == Caller(RESPONDER, "alice")
    assert creds.callers[read_secret(run.token_path)] == Caller(SYSTEM)
    files = json.dumps(creds.files())
    assert "responder-alice.token" in files and not any(t in files for t in tokens)
    again = issue_credentials(run)  # a new drill on the same run: new tokens
    assert read_secret(run.responder_token_path) != tokens[1] and len(again.callers) == 3
    with pytest.raises(ValidationError, match="--responders: a name is letters.*'a b'"):
        validate_responders(["a b"])
    with pytest.raises(ValidationError, match="'alice' is given twice"):
        validate_responders(["alice", "alice"])


def invoke(cwd, *args):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, ["incident", *args], env={"GAMEDAY_RUN": ""})
    finally:
        os.chdir(old)


def test_gameday_incident_uses_the_runs_responder_token_and_the_facilitators_for_its_own(
        tmp_path, monkeypatch):
    for name in ("GAMEDAY_DRILL_URL", "GAMEDAY_TOKEN_FILE", "GAMEDAY_RUN"):
        monkeypatch.delenv(name, raising=False)
    run = create_run(tmp_path / ".gameday")
    creds = issue_credentials(run)
    scenario = parse_scenario(write_experiment(tmp_path / "exp"))
    fake = FakeDrill(tmp_path, scenario)
    seen = []

    def act(action, body, caller):
        seen.append((action, caller.role))
        return fake.act(action, body, caller)

    server = IncidentServer(None, act, lambda body: (200, {"ok": True}),
                            callers=lambda: creds.callers,
                            handle_facilitator=fake.facilitation.handle).start()
    try:
        run.drill_file.write_text(json.dumps({"controller_url": server.url, "times": {}}))
        result = invoke(tmp_path, "note", "from the run folder", "--who", "ann")
        assert result.exit_code == 0, result.output
        assert seen == [("note", RESPONDER)]
        result = invoke(tmp_path, "answer-key")
        assert result.exit_code == 0, result.output
        assert "root cause: " + EXTENSION["root_cause"] in result.output
        assert invoke(tmp_path, "extend", "30").exit_code == 0
        # a responder's copy of the token cannot do the facilitator's commands
        copy = tmp_path / "mine.token"
        copy.write_text(read_secret(run.responder_token_path))
        copy.chmod(0o600)
        result = invoke(tmp_path, "pause", "--url", server.url, "--token-file", str(copy))
        assert result.exit_code != 0 and "facilitator only" in result.output
        result = invoke(tmp_path, "status", "--json", "--url", server.url,
                        "--token-file", str(copy))
        assert result.exit_code == 0 and EXTENSION["root_cause"] not in result.output
        admin = tmp_path / "admin.token"
        admin.write_text(read_secret(run.token_path))
        admin.chmod(0o600)
        result = invoke(tmp_path, "status", "--url", server.url, "--token-file", str(admin))
        assert result.exit_code != 0 and "refused the token" in result.output
    finally:
        server.stop()
    kinds = [e["kind"] for e in read_events(tmp_path)]
    assert kinds == ["note", "extend"] and "pause" not in kinds


def test_concurrent_actions_each_carry_their_own_role(tmp_path):
    scenario = parse_scenario(write_experiment(tmp_path / "exp"))
    events = []
    incident = Incident(str(tmp_path), scenario, lambda kind, **f: events.append(f) or f)

    def note(role):
        for i in range(200):
            assert incident.act("note", {"text": str(i)}, role=role)[0] == 200

    threads = [threading.Thread(target=note, args=(r,)) for r in (FACILITATOR, RESPONDER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(events) == 400 and all(e["who"] == e["role"] for e in events)


def test_the_drill_prints_the_token_files_and_says_when_every_endpoint_needs_one(tmp_path):
    from io import StringIO

    from rich.console import Console

    from gameday.drill.live import DrillView

    run = create_run(tmp_path / ".gameday", make_current=False)
    for beyond in (False, True):
        out = StringIO()
        view = DrillView(Console(file=out, width=300), interactive_help=True)
        server = SimpleNamespace(url="http://10.0.0.5:8900", beyond_loopback=beyond)
        view.refresh(SimpleNamespace(server=server, run_path=run.path))
        text = out.getvalue()
        assert f"--token-file {run.responder_token_path}" in text
        assert f"facilitator: --token-file {run.facilitator_token_path}" in text
        assert f"{run.token_path} " not in text  # never the services' admin token
        assert ("every endpoint needs a token" in text) is beyond
