import sys

import pytest

from gameday.errors import ValidationError
from gameday.runfolder import Run
from gameday.stack.plan import assign_ports, plan_processes
from gameday.stack.spec import (
    ServiceSpec,
    StackSpec,
    build_spec,
    default_spec,
    parse_size_mb,
    validate_spec,
)


def ports_by_id(spec):
    return {f"{n}-{r}": port for (n, r), port in assign_ports(spec).items()}


def test_default_stack_and_ports():
    spec = build_spec(check_fields=False)
    assert spec.names() == ["features", "classifier", "llm", "gateway"]  # start order
    assert spec.service("classifier").replicas == 2
    assert ports_by_id(spec) == {"gateway-0": 8080, "features-0": 8081, "classifier-0": 8082,
                                 "classifier-1": 8083, "llm-0": 8084}


def test_base_port_shifts_everything():
    spec = build_spec(base_port=9000, check_fields=False)
    assert sorted(ports_by_id(spec).values()) == [9000, 9001, 9002, 9003, 9004]


def test_more_replicas_push_later_ports_instead_of_colliding():
    spec = build_spec(replicas=["classifier=3"], check_fields=False)
    assert ports_by_id(spec)["classifier-2"] == 8084
    assert ports_by_id(spec)["llm-0"] == 8085


def test_free_ports_are_distinct():
    spec = build_spec(free_ports=True, replicas=["classifier=4"], check_fields=False)
    ports = list(assign_ports(spec).values())
    assert len(ports) == 7 and len(set(ports)) == 7


def test_free_ports_are_below_the_range_outgoing_connections_take():
    """A free port is never an ephemeral one, which a load generator's next connection could
    take between the pick and the server's bind."""
    from pathlib import Path

    from gameday.stack.plan import free_port
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    spec = build_spec(free_ports=True, replicas=["classifier=4"], check_fields=False)
    picked = [free_port() for _ in range(20)] + list(assign_ports(spec).values())
    assert all(1024 <= p < low for p in picked), (low, picked)


@pytest.mark.parametrize("value, message", [
    ("clasifier=3", "--replicas: unknown service 'clasifier' in 'clasifier=3'; known: "
                    "features, classifier, llm, gateway"),
    ("classifier", "--replicas: expected SERVICE=N, got 'classifier'"),
    ("classifier=two", "--replicas: replicas of classifier must be a whole number from 1 "
                       "to 8, got 'two' in 'classifier=two'"),
    ("classifier=0", "got '0' in 'classifier=0'"),
    ("classifier=99", "got '99' in 'classifier=99'"),
    ("features=2", "--replicas: features runs exactly 1 replica, got 'features=2'"),
])
def test_bad_replicas(value, message):
    with pytest.raises(ValidationError) as err:
        build_spec(replicas=[value], check_fields=False)
    assert message in str(err.value)


def test_replicas_comma_separated_and_repeated():
    spec = build_spec(replicas=["classifier=3,llm=1", "classifier=4"], check_fields=False)
    assert spec.service("classifier").replicas == 4


@pytest.mark.parametrize("value, message", [
    ("classifier.load_time_s", "--set: expected SERVICE.FIELD=VALUE, got "
                               "'classifier.load_time_s'"),
    ("load_time_s=2", "--set: expected SERVICE.FIELD=VALUE, got 'load_time_s=2'"),
    ("clasifier.load_time_s=2", "--set: unknown service 'clasifier' in "
                                "'clasifier.load_time_s=2'"),
    ("classifier.Load-Time=2", "--set: field must be lower_snake_case, got 'Load-Time'"),
    ("classifier.port=9000", "--set: classifier.port is set by the stack itself, got "
                             "'classifier.port=9000'"),
    ("stack.backof_max_s=3", "--set: unknown stack setting 'backof_max_s' in "
                             "'stack.backof_max_s=3'"),
    ("stack.backoff_max_s=-1", "--set: stack.backoff_max_s: Input should be greater than 0, "
                               "got '-1'"),
    ("stack.ready_timeout_s=soon", "--set: stack.ready_timeout_s: Input should be a valid "
                                   "number"),
])
def test_bad_sets(value, message):
    with pytest.raises(ValidationError) as err:
        build_spec(sets=[value], check_fields=False)
    assert message in str(err.value)


def test_sets_become_env_of_every_replica(tmp_path):
    spec = build_spec(sets=["classifier.load_time_s=2", "stack.backoff_max_s=5",
                            "gateway.retry.max_attempts=2"], check_fields=False)
    assert spec.settings.backoff_max_s == 5.0
    run = Run(tmp_path / "runs" / "r1")
    procs = {p.id: p for p in plan_processes(spec, run)}
    for r in (0, 1):
        env = procs[f"classifier-{r}"].env
        assert env["CLASSIFIER_LOAD_TIME_S"] == "2"
        assert env["CLASSIFIER_REPLICA"] == str(r)
        assert env["CLASSIFIER_PORT"] == str(8082 + r)
        assert env["CLASSIFIER_HOST"] == "127.0.0.1"
        assert env["GAMEDAY_ADMIN_TOKEN_FILE"] == str(run.token_path)
        assert env["GAMEDAY_FAULTS_FILE"] == str(run.faults_dir / f"classifier-{r}.json")
    assert "CLASSIFIER_LOAD_TIME_S" not in procs["llm-0"].env
    gw = procs["gateway-0"].env
    assert gw["GATEWAY_RETRY__MAX_ATTEMPTS"] == "2"
    assert gw["GATEWAY_CLASSIFIER_URLS"] == "http://127.0.0.1:8082,http://127.0.0.1:8083"
    assert gw["GATEWAY_FEATURES_URL"] == "http://127.0.0.1:8081"
    assert gw["GATEWAY_LLM_URL"] == "http://127.0.0.1:8084"
    assert procs["gateway-0"].argv == [sys.executable, "-m", "gameday_services.gateway"]
    assert procs["gateway-0"].log_path == run.logs_dir / "gateway-0.log"


def test_inherited_admin_token_env_is_not_passed(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", "leaky")
    procs = plan_processes(build_spec(check_fields=False), Run(tmp_path / "runs" / "r"))
    assert all("GAMEDAY_ADMIN_TOKEN" not in p.env for p in procs)


def test_unknown_service_field_is_named_when_the_service_exists(monkeypatch):
    import gameday.stack.spec as spec_mod

    monkeypatch.setattr(spec_mod, "_service_fields",
                        lambda name: {"host", "port", "replica", "load_time_s"})
    with pytest.raises(ValidationError, match=r"--set: unknown setting 'lod_time_s' of "
                                              r"classifier in 'classifier.lod_time_s=1'; "
                                              r"known: load_time_s"):
        build_spec(sets=["classifier.lod_time_s=1"])
    build_spec(sets=["classifier.load_time_s=1"])


def test_memory_limits():
    spec = build_spec(memory_limits=["classifier=300M", "llm=1G"], check_fields=False)
    assert spec.service("classifier").memory_limit_mb == 300
    assert spec.service("llm").memory_limit_mb == 1024
    with pytest.raises(ValidationError, match=r"--memory-limit 'llm=lots': size must be a "
                                              r"positive number.*got 'lots'"):
        build_spec(memory_limits=["llm=lots"], check_fields=False)
    assert parse_size_mb("512Ki") == 0.5


def test_base_port_bounds():
    with pytest.raises(ValidationError, match="--base-port: 65534 leaves no room for 5 ports"):
        build_spec(base_port=65534, check_fields=False)
    with pytest.raises(ValidationError, match="--base-port: must be 1024 or above"):
        build_spec(base_port=80, check_fields=False)


def test_spec_checks():
    spec = StackSpec(services=[ServiceSpec(name="a"), ServiceSpec(name="a")])
    with pytest.raises(ValidationError, match="service 'a' appears twice"):
        validate_spec(spec)
    spec = StackSpec(services=[ServiceSpec(name="a", upstreams={"A_B_URL": "b"})])
    with pytest.raises(ValidationError, match="upstream A_B_URL names unknown service 'b'"):
        validate_spec(spec)


def test_spec_survives_json_for_the_daemon():
    spec = build_spec(replicas=["classifier=3"], sets=["llm.kv_slots=4"], check_fields=False)
    assert StackSpec.model_validate_json(spec.model_dump_json()) == spec
    assert default_spec() == StackSpec.model_validate_json(default_spec().model_dump_json())
