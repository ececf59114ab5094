"""``--set`` values go through each service's own Settings class before anything starts:
one ValidationError naming ``--set <service>.<field>``, the value and pydantic's reason."""

from __future__ import annotations

import sqlite3

import pytest

from gameday.errors import ValidationError
from gameday.stack.spec import ServiceSpec, StackSpec, build_spec


@pytest.mark.parametrize("value, message", [
    ("gateway.retry.max_attempts=abc",
     "--set gateway.retry.max_attempts: Input should be a valid integer, unable to parse "
     "string as an integer, got 'abc'"),
    ("classifier.load_time_s=nan",
     "--set classifier.load_time_s: Input should be greater than or equal to 0, got 'nan'"),
    ("llm.kv_slots=-1", "--set llm.kv_slots: Input should be greater than or equal to 1, "
                        "got '-1'"),
    ("classifier.load_time_s=inf", "--set classifier.load_time_s: must be a finite number, "
                                   "got 'inf'"),
    ("gateway.breaker={bad", "--set gateway.breaker: not a JSON object for the whole "
                             "section, got '{bad'"),
    ('gateway.breaker={"cooldown_s": -1}',
     "--set gateway.breaker.cooldown_s: Input should be greater than or equal to 0"),
    ("gateway.log_level=\udcff", "--set gateway.log_level: not valid Unicode text (a lone "
                                  "surrogate"),
    ("features.entities=" + "9" * 300, "--set features.entities: Input should be less than "
                                       "or equal to 1000000, got '9999"),
])
def test_bad_values_are_refused_by_the_service_schema(value, message):
    with pytest.raises(ValidationError) as err:
        build_spec(sets=[value])
    assert message in str(err.value)
    assert len(str(err.value)) < 200


def test_good_values_pass_as_the_service_would_read_them():
    spec = build_spec(sets=["gateway.retry.max_attempts=2", "classifier.load_time_s=0.5",
                            "gateway.classifier_urls=http://a:1,http://b:2",
                            'gateway.breaker={"cooldown_s": 2}', "llm.kv_slots=4"])
    assert spec.service("gateway").settings["retry__max_attempts"] == "2"


def test_a_stand_in_service_with_its_own_command_is_not_checked():
    base = StackSpec(services=[ServiceSpec(name="gateway", command=["true"])])
    spec = build_spec(base=base, sets=["gateway.retry.max_attempts=abc"], check_fields=False)
    assert spec.service("gateway").settings == {"retry__max_attempts": "abc"}


def test_features_db_path_must_be_a_feature_store(tmp_path):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("mine\n")
    with pytest.raises(ValidationError, match=f"--set features.db_path: {user_file} exists "
                                              f"and is not a feature store gameday made"):
        build_spec(sets=[f"features.db_path={user_file}"])
    other_db = tmp_path / "other.db"
    sqlite3.connect(other_db).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ValidationError, match="is not a feature store gameday made"):
        build_spec(sets=[f"features.db_path={other_db}"])
    with pytest.raises(ValidationError, match="features.db_path: .* is a directory"):
        build_spec(sets=[f"features.db_path={tmp_path}", "features.db_force=true"])
    build_spec(sets=[f"features.db_path={tmp_path / 'new.db'}"])  # nothing there: fine
    build_spec(sets=[f"features.db_path={user_file}", "features.db_force=true"])
    assert user_file.read_text() == "mine\n"  # checking touches nothing


def test_a_bad_variable_in_the_users_environment_is_named(monkeypatch):
    """The services inherit the shell's environment: a bad GATEWAY_* left there would crash
    the gateway at start; it is refused first, named as the variable it is."""
    monkeypatch.setenv("GATEWAY_RETRY__MAX_ATTEMPTS", "abc")
    with pytest.raises(ValidationError) as err:
        build_spec()
    assert str(err.value).startswith("environment variable GATEWAY_RETRY__MAX_ATTEMPTS: "
                                     "Input should be a valid integer")
    assert "got 'abc'" in str(err.value) and "--set gateway.retry.max_attempts" in str(err.value)
    # --set wins over the environment, as it does for the service
    spec = build_spec(sets=["gateway.retry.max_attempts=2"])
    assert spec.service("gateway").settings["retry__max_attempts"] == "2"


def test_good_variables_in_the_environment_and_the_stacks_own_pass(monkeypatch):
    monkeypatch.setenv("GATEWAY_RETRY__MAX_ATTEMPTS", "3")
    monkeypatch.setenv("GATEWAY_PORT", "not-a-port")  # the stack sets PORT per replica
    monkeypatch.setenv("LLM_KV_SLOTS", "8")
    build_spec()
