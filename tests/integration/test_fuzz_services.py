"""Fuzz every service's HTTP API from its own OpenAPI document (schemathesis), no fault active.

The four services run as real processes on loopback, the gateway in front of the three
others. For every operation each service documents, schemathesis generates requests that
fit the schema (positive) and requests that break it (negative); every answer must be
something other than a 5xx, carry a documented status code and match the documented body.

Admin endpoints are fuzzed with the right token. Two kinds of mutation are handled apart:
- a POST /admin/faults whose body is a valid fault is NOT sent: injecting a random valid
  fault breaks the service on purpose (crash exits the process, hang holds requests, xid
  errors answer 500, ...), which is what faults are for and not a bug. Every invalid body is
  sent, since that is where a 500 would hide. Valid injections are covered by
  tests/integration/test_faults_http.py.
- every other mutating admin call (model deploy/rollback, gateway policy and pools) is sent,
  and the service is reset right after it, so the next case meets the service as started.
"""

from __future__ import annotations

import functools
import importlib
import time
from dataclasses import dataclass

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import ValidationError as PydanticValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from gameday.faults.catalog import types_for
from gameday.faults.model import FaultSpec
from tests.procs import ServiceProcess, auth

SERVICES = ("features", "classifier", "llm", "gateway")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 40, GenerationMode.NEGATIVE: 20}
ENTITIES = 200  # seeded in the feature store: e0000 .. e0199


def documented_operations() -> list[tuple[str, str, str, GenerationMode]]:
    """(service, METHOD, path, mode) for every operation of every service's own OpenAPI
    document; negative mode only where there is an input to break (parameters or a body).

    Built from the apps in process (no lifespan runs): the same document the processes serve
    at /openapi.json, read here only to name one test per operation."""
    found = []
    for service in SERVICES:
        app = importlib.import_module(f"gameday_services.{service}.app").create_app()
        for path, item in app.openapi()["paths"].items():
            for method, op in item.items():
                modes = [GenerationMode.POSITIVE]
                if op.get("parameters") or op.get("requestBody"):
                    modes.append(GenerationMode.NEGATIVE)
                found += [(service, method.upper(), path, mode) for mode in modes]
    return found


OPERATIONS = documented_operations()


@dataclass
class Running:
    procs: dict[str, ServiceProcess]
    admin: httpx.Client  # kept-alive connections: a fresh client costs ~0.1 s per call
    session: requests.Session

    def url(self, service: str) -> str:
        return self.procs[service].url


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """The four services on free loopback ports, fast settings, the gateway on the others."""
    logs = tmp_path_factory.mktemp("fuzz-logs")
    procs = {
        "features": ServiceProcess("features", log_dir=logs, env={
            "FEATURES_LOAD_TIME_S": "0", "FEATURES_ENTITIES": str(ENTITIES),
            "FEATURES_DB_PATH": str(logs / "features.sqlite3")}),
        "classifier": ServiceProcess("classifier", log_dir=logs, env={
            "CLASSIFIER_LOAD_TIME_S": "0", "CLASSIFIER_MAX_QUEUE_DELAY_MS": "1",
            "CLASSIFIER_COMPUTE_BASE_MS": "0", "CLASSIFIER_COMPUTE_PER_ITEM_MS": "0"}),
        "llm": ServiceProcess("llm", log_dir=logs, env={
            "LLM_LOAD_TIME_S": "0", "LLM_TOKEN_MS": "0", "LLM_PREFILL_MS": "0",
            "LLM_PREFILL_MS_PER_TOKEN": "0"}),
    }
    procs["gateway"] = ServiceProcess("gateway", log_dir=logs, env={
        "GATEWAY_FEATURES_URL": procs["features"].url,
        "GATEWAY_CLASSIFIER_URLS": procs["classifier"].url,
        "GATEWAY_LLM_URL": procs["llm"].url,
        "GATEWAY_RETRY__BACKOFF_BASE_S": "0.001"})
    try:
        for proc in procs.values():
            proc.start(wait_ready=False)
        for proc in procs.values():
            proc.wait_ready()
        with httpx.Client(headers=auth(), timeout=10) as admin, requests.Session() as session:
            yield Running(procs, admin, session)
    finally:
        for proc in procs.values():
            proc.stop()


@functools.cache
def live_schema(url: str):
    """The OpenAPI document the running process serves."""
    return schemathesis.openapi.from_url(url + "/openapi.json")


# -- keeping the services as started -----------------------------------------------------
def is_valid_fault(service: str, body) -> bool:
    """True when ``body`` would inject a real fault into ``service``."""
    try:
        spec = FaultSpec.model_validate(body)
        model = types_for(service)[spec.type]
        model.model_validate(spec.params)
    except (PydanticValidationError, KeyError, TypeError):
        return False
    return True


def reset_classifier(run: Running) -> None:
    """Back to v1, ready (a fuzzed deploy or rollback may have swapped the model)."""
    url = run.url("classifier")
    state = run.admin.get(url + "/admin/model").json()
    if state["version"] == "v1" and state["ready"]:
        return
    deadline = time.monotonic() + 10
    while run.admin.post(url + "/admin/model/deploy", json={"version": "v1"}).status_code != 200:
        assert time.monotonic() < deadline, "classifier: cannot deploy v1 back"
        time.sleep(0.05)  # 409 while a load is in progress
    run.procs["classifier"].wait_ready()


def reset_gateway(run: Running) -> None:
    """The start policy, the started pools, closed circuits, nobody ejected."""
    url = run.url("gateway")
    run.admin.put(url + "/admin/policy", json={}).raise_for_status()
    for name in ("features", "classifier", "llm"):
        base = url + f"/admin/upstreams/{name}"
        run.admin.put(base, json={"urls": [run.url(name)]}).raise_for_status()
        run.admin.post(base + "/0/uneject").raise_for_status()
        run.admin.put(base + "/circuit", json={"state": "closed"}).raise_for_status()


RESETS = {"classifier": reset_classifier, "gateway": reset_gateway}


def with_known_entity(case, index: int):
    """Random entity ids almost never exist (404): point the case at a seeded one, so the
    path that finds features, labels and predictions is fuzzed as well."""
    if "entity_id" in (case.path_parameters or {}):
        case.path_parameters["entity_id"] = f"e{index:04d}"
    elif isinstance(case.body, dict) and "entity_id" in case.body:
        case.body["entity_id"] = f"e{index:04d}"
    return case


def cases(operation, mode: GenerationMode):
    strategy = operation.as_strategy(generation_mode=mode)
    if mode != GenerationMode.POSITIVE:
        return strategy
    known = st.tuples(strategy, st.integers(0, ENTITIES - 1))
    return st.one_of(strategy, known.map(lambda pair: with_known_entity(*pair)))


# -- the fuzzing -------------------------------------------------------------------------
@pytest.mark.parametrize(("service", "method", "path", "mode"), OPERATIONS,
                         ids=[f"{s}:{m} {p}:{g}" for s, m, p, g in OPERATIONS])
def test_fuzz_operation(running, service, method, path, mode):
    url = running.url(service)
    operation = live_schema(url)[path][method]
    headers = auth() if path.startswith("/admin") else None
    faults_api = path.startswith("/admin/faults")
    changes_state = headers is not None and method in MUTATING and not faults_api

    @given(case=cases(operation, mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        if (method, path) == ("POST", "/admin/faults") and is_valid_fault(service, case.body):
            note(f"not sent: a valid fault would break {service} on purpose: {case.body!r}")
            return
        try:
            case.call_and_validate(base_url=url, session=running.session, headers=headers,
                                   checks=CHECKS, timeout=15)
        finally:
            if changes_state:
                RESETS[service](running)

    try:
        fuzz()
    except Unsatisfiable:
        # A string path parameter or an any-JSON body: nothing in the input can be invalid.
        assert mode == GenerationMode.NEGATIVE
        pytest.skip("no input of this operation can break its schema")
    finally:
        # Nothing valid was injected; this only guards the next test against a mistake here.
        assert running.admin.get(url + "/admin/faults").json() == {"faults": []}


def test_every_service_is_fuzzed():
    """The operations come from the apps' own documents: all four, and admin ones too."""
    assert {s for s, *_ in OPERATIONS} == set(SERVICES)
    for service in SERVICES:
        paths = {p for s, _, p, _ in OPERATIONS if s == service}
        assert "/admin/faults" in paths and "/healthz" in paths and "/readyz" in paths
