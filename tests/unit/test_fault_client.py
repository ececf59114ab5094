"""The fault client's checks (gameday.faults.client.validate_fault): one TTL bound, the
catalogue, and messages that name the value where the caller typed it."""

from __future__ import annotations

import pytest

from gameday.errors import ValidationError
from gameday.faults.client import fault_fields, validate_fault
from gameday.faults.model import MAX_TTL_S

CLI = {"type": "TYPE", "params": "--param", "route": "--route",
       "probability": "--probability", "ttl": "--ttl"}


def test_a_valid_fault_becomes_the_admin_api_body():
    body = validate_fault("classifier", "latency", {"delay_ms": 500}, ttl="1m30s")
    assert body == {"type": "latency", "params": {"delay_ms": 500}, "route": "/v1/*",
                    "probability": 1.0, "ttl_s": 90.0}
    assert validate_fault("my-model", "latency", ttl=MAX_TTL_S)["ttl_s"] == MAX_TTL_S


@pytest.mark.parametrize("ttl, names, message", [
    ("2h", CLI, "--ttl: at most 1h, got '2h'"),
    ("2h", None, "ttl: at most 1h, got '2h'"),
    (7200, None, "ttl: at most 1h, got 7200"),
    (MAX_TTL_S + 0.5, None, "ttl: at most 1h, got 3600.5"),
    ("0s", CLI, "--ttl: must be above zero, got '0s'"),
    (-1, None, "ttl: must be above zero, got -1"),
    (float("nan"), None, "ttl: must be above zero, got nan"),
    (True, None, "ttl: not a duration, got True"),
    ("soon", CLI, "--ttl: not a duration, got 'soon'"),
])
def test_the_ttl_is_bounded_once_for_every_caller(ttl, names, message):
    with pytest.raises(ValidationError) as err:
        validate_fault("classifier", "latency", ttl=ttl, names=names)
    assert str(err.value).startswith(message), str(err.value)


def test_probability_type_and_params_are_checked_before_calling_anyone():
    with pytest.raises(ValidationError, match=r"^--probability: must be from 0 to 1, got 1.5$"):
        validate_fault("classifier", "latency", ttl="1m", probability=1.5, names=CLI)
    with pytest.raises(ValidationError, match=r"^probability: must be from 0 to 1, got True"):
        validate_fault("classifier", "latency", ttl="1m", probability=True)
    with pytest.raises(ValidationError,
                       match=r"^fault_type: classifier has no fault type 'lag'; types: "):
        validate_fault("classifier", "lag", ttl="1m")
    with pytest.raises(ValidationError, match=r"^--param: fault 'latency' params: field "
                                              r"'delay_ms': Input should be greater than"):
        validate_fault("classifier", "latency", {"delay_ms": -5}, ttl="1m", names=CLI)
    with pytest.raises(ValidationError, match=r"^params: must be an object, got \[1\]"):
        validate_fault("classifier", "latency", [1], ttl="1m")
    with pytest.raises(ValidationError, match=r"^fault: field 'route': Input should be a "
                                              r"valid string, got 5"):
        validate_fault("classifier", "latency", ttl="1m", route=5)


def test_a_service_gameday_does_not_know_answers_for_itself():
    body = validate_fault("my-model", "whatever", {"x": 1}, ttl="10s")
    assert body["type"] == "whatever" and body["params"] == {"x": 1}


def test_fault_start_fields_come_from_the_faults_as_stored():
    stored = {"id": "f1", "type": "latency", "params": {"delay_ms": 300.0, "jitter_ms": 0.0},
              "route": "/v1/*", "probability": 1.0, "ttl_s": 60.0, "expires_at": 1.0}
    fields = fault_fields("classifier", [("classifier-0", stored),
                                         ("classifier-1", dict(stored, id="f2"))])
    assert fields == {"service": "classifier", "processes": ["classifier-0", "classifier-1"],
                      "fault_ids": ["f1", "f2"],
                      "fault": {"type": "latency", "params": {"delay_ms": 300.0,
                                                              "jitter_ms": 0.0},
                                "route": "/v1/*", "probability": 1.0, "ttl_s": 60.0}}
    asked = {"type": "error", "params": {}, "route": "/v1/x", "probability": 0.5, "ttl_s": 9}
    assert fault_fields("x", [], asked)["fault"] == asked
