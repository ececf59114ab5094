"""The stack on containers (docker-compose.yml, Dockerfile, deploy/), validated with no engine.

- docker-compose.yml against the Compose Specification JSON schema (the copy that the
  docker-compose 1.29.2 wheel on PyPI ships, fetched with pip, hash-pinned, cached), and the
  structure a user relies on: health checks, loopback-only ports, the rules mount;
- deploy/prometheus/prometheus.yml with ``promtool check config`` and its rules with
  ``promtool check rules``; deploy/alertmanager/alertmanager.yml with ``amtool check-config``;
- the same files agree with what gameday itself runs (promserver.py, alertmanager.py) and
  with deploy/compose/stack.yaml;
- real Prometheus and Alertmanager with those files (addresses adapted to a local stack on
  loopback) page the drill controller's webhook endpoint (with its bearer token) when a
  fault burns the gateway availability SLO.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import httpx
import jsonschema
import pytest
import yaml

from gameday.drill.api import IncidentServer
from gameday.errors import ValidationError
from gameday.prometheus.alertmanager import GROUP_BY, AlertmanagerConfig, AlertmanagerServer
from gameday.prometheus.server import PrometheusConfig, PrometheusServer
from gameday.prometheus.webhook import AlertNotice, WebhookReceiver, parse_webhook
from tests.conftest import IN_CI, require_binary
from tests.integration.test_alertmanager import Inbox as AlertmanagerInbox
from tests.integration.test_alertmanager import notification_metrics, wait_for_alertmanager
from tests.procs import ROOT, free_port

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
STACK_FILE = ROOT / "deploy" / "compose" / "stack.yaml"
PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
GEN = ROOT / "slos" / "_gen"

# The Compose Specification schema as published on PyPI inside docker-compose 1.29.2
# (compose/config/compose_spec.json). Fetched with pip (--no-deps: its dependencies conflict
# with ours, and nothing of it is installed), pinned by hash, read from the wheel as a zip.
SCHEMA_WHEEL = "docker_compose-1.29.2-py2.py3-none-any.whl"
SCHEMA_REQUIREMENT = ("docker-compose==1.29.2 --hash=sha256:"
                      "8d5589373b35c8d3b1c8c1182c6e4a4ff14bffa3dd0b605fcd08f73c94cef809")
SCHEMA_MEMBER = "compose/config/compose_spec.json"

# What the real values of the `${...}` variables are replaced by when the file is read.
SAMPLE_ENV = {"GAMEDAY_ADMIN_TOKEN_FILE": "/tmp/admin-token"}
APP_SERVICES = {  # compose service -> (package of services/, settings env prefix)
    "features": ("features", "FEATURES_"),
    "classifier-0": ("classifier", "CLASSIFIER_"),
    "classifier-1": ("classifier", "CLASSIFIER_"),
    "llm": ("llm", "LLM_"),
    "gateway": ("gateway", "GATEWAY_"),
}


# -- reading the files ------------------------------------------------------------------------
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value, env: dict[str, str]):
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR-default},
    ${VAR:?error}, ${VAR?error}, $$ (a literal $)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        have = env.get(name)
        unset = have is None or (op is not None and op.startswith(":") and have == "")
        if op in (":-", "-"):
            return arg if unset else have
        if op in (":?", "?"):
            if unset:
                raise KeyError(f"{name}: {arg}")
            return have
        return have or ""

    return _VAR.sub(sub, value)


def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose(env: dict[str, str] | None = None) -> dict:
    """docker-compose.yml as Compose reads it: YAML (anchors and merge keys resolved), then
    variables substituted."""
    return interpolate(raw_compose(), SAMPLE_ENV if env is None else env)


def stack_file() -> dict:
    return yaml.safe_load(STACK_FILE.read_text())


def netloc(url: str) -> str:
    return urlparse(url).netloc


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


# -- the Compose Specification schema ---------------------------------------------------------
def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gameday" / "compose-spec"


def fetch_schema_wheel() -> Path:
    """The wheel from the cache, else downloaded once with pip (hash-checked)."""
    folder = _cache_dir()
    wheel = folder / SCHEMA_WHEEL
    if wheel.is_file():
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(folder) / f".download-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    req = tmp / "requirements.txt"
    req.write_text(SCHEMA_REQUIREMENT + "\n")
    try:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                               "--only-binary=:all:", "--require-hashes", "-r", str(req),
                               "-d", str(tmp)], capture_output=True, text=True, timeout=180)
        got = tmp / SCHEMA_WHEEL
        if proc.returncode != 0 or not got.is_file():
            message = (f"could not fetch the Compose Specification schema ({SCHEMA_REQUIREMENT}"
                       f") with pip: {(proc.stdout + proc.stderr).strip()[-600:]}")
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        got.replace(wheel)  # atomic: a parallel worker sees the whole file or none
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return wheel


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    with zipfile.ZipFile(fetch_schema_wheel()) as zf:
        return json.loads(zf.read(SCHEMA_MEMBER))


def schema_errors(schema: dict, document: dict) -> list[str]:
    # the schema names draft 2019-09 with a URL that jsonschema does not know (http, '#')
    assert "2019-09" in schema["$schema"]
    cls = jsonschema.Draft201909Validator
    cls.check_schema(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in sorted(cls(schema).iter_errors(document), key=lambda e: list(e.path))]


def test_the_compose_file_follows_the_compose_specification(compose_schema):
    assert compose_schema.get("title") == "Compose Specification"
    assert schema_errors(compose_schema, compose()) == []
    assert schema_errors(compose_schema, raw_compose()) == []


def test_the_schema_check_catches_a_mistake(compose_schema):
    broken = compose()
    broken["services"]["gateway"]["healthcheck"]["intervall"] = "5s"
    broken["services"]["llm"]["depends_on"] = {"features": {"condition": "service_ready"}}
    errors = schema_errors(compose_schema, broken)
    assert any(e.startswith("services/gateway/healthcheck") and "intervall" in e
               for e in errors), errors
    assert any(e.startswith("services/llm/depends_on") for e in errors), errors


# -- what a user relies on --------------------------------------------------------------------
def test_the_admin_token_has_no_default():
    with pytest.raises(KeyError, match="GAMEDAY_ADMIN_TOKEN_FILE"):
        compose(env={})
    doc = compose()
    assert doc["secrets"]["gameday_admin_token"]["file"] == SAMPLE_ENV["GAMEDAY_ADMIN_TOKEN_FILE"]
    token_path = "/run/secrets/gameday_admin_token"
    assert stack_file()["admin_token_file"] == token_path
    # the services check it; the drill reads it; Alertmanager sends it to the drill's webhook
    # (and Prometheus to the drill's /metrics)
    for name in (*APP_SERVICES, "gameday", "alertmanager", "prometheus"):
        assert "gameday_admin_token" in doc["services"][name]["secrets"], name
    for name in APP_SERVICES:
        env = env_of(doc["services"][name])
        assert env["GAMEDAY_ADMIN_TOKEN_FILE"] == token_path, name
        assert "GAMEDAY_ADMIN_TOKEN" not in env, name


def test_every_service_is_health_checked_or_waits_for_a_condition():
    services = compose()["services"]
    for name, svc in services.items():
        check = svc.get("healthcheck") or {}
        checked = bool(check.get("test")) and not check.get("disable")
        deps = svc.get("depends_on") or {}
        waits = bool(deps) and isinstance(deps, dict) and all(
            isinstance(d, dict) and d.get("condition") for d in deps.values())
        assert checked or waits, f"{name}: neither a healthcheck nor depends_on conditions"
        for dep, cond in (deps.items() if isinstance(deps, dict) else []):
            assert dep in services, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                dep_check = services[dep].get("healthcheck") or {}
                assert dep_check.get("test") and not dep_check.get("disable"), \
                    f"{name} waits for {dep} to be healthy, which has no healthcheck"
    for name in APP_SERVICES:
        check = services[name]["healthcheck"]
        url = env_of(services[name])["GAMEDAY_HEALTHCHECK_URL"]
        assert "GAMEDAY_HEALTHCHECK_URL" in " ".join(check["test"]), name
        assert url.endswith("/healthz"), (name, url)
    assert set(services["gateway"]["depends_on"]) == {"features", "classifier-0",
                                                      "classifier-1", "llm"}


def test_published_ports_are_on_loopback_only_and_the_gateway_on_8080():
    services = compose()["services"]
    assert services["gateway"]["ports"] == ["127.0.0.1:8080:8080"]
    published = {}
    for name, svc in services.items():
        for port in svc.get("ports") or []:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
            published[name] = port
    assert set(published) == {"gateway", "prometheus", "alertmanager", "grafana",
                              "locust-master"}
    assert published["prometheus"] == "127.0.0.1:9090:9090"
    assert published["alertmanager"] == "127.0.0.1:9093:9093"
    assert published["grafana"] == "127.0.0.1:3000:3000"


def test_services_bind_all_interfaces_and_their_settings_exist():
    """Each service's environment names real settings fields (a typo would be ignored
    silently), binds 0.0.0.0, and listens where stack.yaml and Prometheus look."""
    import importlib

    services = compose()["services"]
    expected = {netloc(u) for urls in stack_file()["services"].values() for u in urls}
    seen = set()
    for name, (package, prefix) in APP_SERVICES.items():
        svc = services[name]
        assert svc["command"] == ["python", "-m", f"gameday_services.{package}"], name
        settings = importlib.import_module(f"gameday_services.{package}.settings").Settings
        env = env_of(svc)
        for key in env:
            if key.startswith(prefix):
                field = key[len(prefix):].lower().split("__")[0]
                assert field in settings.model_fields, f"{name}: {key} is not a setting"
        assert env[f"{prefix}HOST"] == "0.0.0.0", name
        port = int(env[f"{prefix}PORT"])
        assert env["GAMEDAY_HEALTHCHECK_URL"] == f"http://127.0.0.1:{port}/healthz", name
        seen.add(f"{name}:{port}")
    assert seen == expected
    # the classifier replicas use the local stack's ports: the default and the next one
    from gameday_services.classifier.settings import Settings as ClassifierSettings

    default = ClassifierSettings.model_fields["port"].default
    assert [env_of(services[f"classifier-{i}"])["CLASSIFIER_PORT"] for i in (0, 1)] == \
        [str(default), str(default + 1)]
    assert [env_of(services[f"classifier-{i}"])["CLASSIFIER_REPLICA"] for i in (0, 1)] == \
        ["0", "1"]
    gw = env_of(services["gateway"])
    urls = stack_file()["services"]
    assert gw["GATEWAY_CLASSIFIER_URLS"].split(",") == urls["classifier"]
    assert [gw["GATEWAY_FEATURES_URL"]] == urls["features"]
    assert [gw["GATEWAY_LLM_URL"]] == urls["llm"]


def test_the_stack_file_uses_each_services_default_port():
    import importlib

    urls = stack_file()["services"]
    assert set(urls) == {"gateway", "features", "classifier", "llm"}
    for service, replicas in urls.items():
        default = importlib.import_module(f"gameday_services.{service}.settings") \
            .Settings.model_fields["port"].default
        assert urlparse(replicas[0]).port == default, service


def test_prometheus_mounts_the_generated_rules_and_the_config():
    prom = compose()["services"]["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prom["volumes"]}
    assert mounts["/etc/prometheus/rules"] == "./slos/_gen/drill-12h"
    assert (ROOT / mounts["/etc/prometheus/rules"]).is_dir()
    assert any((ROOT / mounts["/etc/prometheus/rules"]).glob("*.rules.yml"))
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    other = compose({**SAMPLE_ENV, "GAMEDAY_CATALOG": "google-30d"})["services"]["prometheus"]
    assert "./slos/_gen/google-30d:/etc/prometheus/rules:ro" in other["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    assert "--rules.alert.resend-delay=1s" in prom["command"]  # as promserver.py starts it
    am = compose()["services"]["alertmanager"]
    assert "./deploy/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" \
        in am["volumes"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in am["command"]
    grafana = compose()["services"]["grafana"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]


def test_locust_master_and_scalable_workers_run_a_locustfile_of_the_repo():
    services = compose()["services"]
    master, worker = services["locust-master"], services["locust-worker"]
    for svc in (master, worker):
        cmd = svc["command"]
        assert cmd[:2] == ["locust", "-f"]
        assert (ROOT / cmd[2]).is_file(), cmd[2]
    assert "--master" in master["command"]
    assert master["command"][master["command"].index("--host") + 1] == "http://gateway:8080"
    assert "--worker" in worker["command"]
    assert worker["command"][worker["command"].index("--master-host") + 1] == "locust-master"
    # --scale needs no fixed name and no published port
    assert "container_name" not in worker and "ports" not in worker


def test_the_gameday_service_runs_drills_against_the_stack():
    services = compose()["services"]
    svc = services["gameday"]
    assert svc["profiles"] == ["drill"]
    argv = svc["entrypoint"] + svc["command"]
    assert argv[:3] == ["gameday", "drill", "run"]
    assert (ROOT / "experiments" / f"{argv[3]}.json").is_file()
    option = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    assert option["--stack-file"] == "/app/deploy/compose/stack.yaml"
    assert "./deploy/compose:/app/deploy/compose:ro" in svc["volumes"]
    assert option["--prometheus-url"] == stack_file()["prometheus_url"] == \
        "http://prometheus:9090"
    assert option["--webhook-listen"] == "0.0.0.0:9095"
    webhook = yaml.safe_load(ALERTMANAGER_YML.read_text())["receivers"][0]
    url = urlparse(webhook["webhook_configs"][0]["url"])
    assert (url.hostname, url.port) == ("gameday", 9095)
    assert urlparse(stack_file()["alertmanager_url"]).hostname == "alertmanager"


def test_the_gameday_command_and_the_stack_file_are_what_the_cli_reads():
    import click
    import typer.main

    from gameday.cli.main import app
    from gameday.stack.external import load_stack_file

    group = typer.main.get_command(app)
    drill = group.get_command(click.Context(group), "drill")
    run = drill.get_command(click.Context(drill), "run")
    known = {opt for param in run.params for opt in param.opts}
    svc = compose()["services"]["gameday"]
    used = {arg for arg in svc["command"] if arg.startswith("--")}
    assert used <= known, f"gameday drill run has no {sorted(used - known)}"
    stack = load_stack_file(STACK_FILE)
    assert stack.services == stack_file()["services"]
    assert stack.admin_token_file == "/run/secrets/gameday_admin_token"


def test_the_dockerfile_builds_one_slim_non_root_image_with_a_healthcheck():
    ins = dockerfile_instructions()
    words = [w for w, _ in ins]
    assert ins[0] == ("FROM", "python:3.11-slim")
    users = [arg for w, arg in ins if w == "USER"]
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    healthchecks = [arg for w, arg in ins if w == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "GAMEDAY_HEALTHCHECK_URL" in healthchecks[0]
    assert "curl" not in healthchecks[0] and "python" in healthchecks[0]
    default = next(arg for w, arg in ins if w == "ENV" and "GAMEDAY_HEALTHCHECK_URL" in arg)
    assert default.endswith("/healthz")
    assert any(w == "RUN" and "pip install ." in arg for w, arg in ins)
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")
    # everything COPY takes exists and is not excluded by .dockerignore
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for w, arg in ins:
        if w == "COPY":
            for src in arg.split()[:-1]:
                assert (ROOT / src).exists(), src
                assert src not in ignored, f"{src} is copied but .dockerignore excludes it"
    assert {".git", ".venv", ".gameday", "tests"} <= ignored
    # the one image serves every gameday container
    images = {svc.get("image") for name, svc in compose()["services"].items()
              if name in APP_SERVICES or name.startswith(("locust", "gameday"))}
    assert images == {"gameday:local"}


# -- same configuration as gameday's own Prometheus and Alertmanager ---------------------------
def test_prometheus_config_is_what_gameday_writes_for_the_same_targets():
    """Job, replica and (no) service labels, intervals and alerting as promserver.py renders
    them for the replicas of stack.yaml: the SLO rules and runbooks see the same series."""
    ours = yaml.safe_load(PROMETHEUS_YML.read_text())
    stack = stack_file()
    gameday = PrometheusConfig(targets=stack["services"],
                               alertmanager=netloc(stack["alertmanager_url"]),
                               drill="gameday:9095",
                               drill_token_file=stack["admin_token_file"]).render()
    for key in ("global", "scrape_configs", "alerting"):
        assert ours[key] == gameday[key], key
    assert ours["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]


def test_alertmanager_config_is_what_gameday_writes_for_its_webhook():
    """The same route and receiver as gameday's own Alertmanager, plus the bearer token:
    the drill's webhook listens off loopback in compose (--webhook-listen 0.0.0.0:9095)."""
    ours = yaml.safe_load(ALERTMANAGER_YML.read_text())
    hook = ours["receivers"][0]["webhook_configs"][0]
    assert hook.pop("http_config") == {"authorization": {
        "type": "Bearer", "credentials_file": stack_file()["admin_token_file"]}}
    assert urlparse(hook["url"]).path == WebhookReceiver(lambda notices: None).path == "/alerts"
    assert ours == AlertmanagerConfig(webhook_url=hook["url"]).render()
    assert tuple(ours["route"]["group_by"]) == GROUP_BY
    assert hook["send_resolved"] is True


# -- promtool and amtool ----------------------------------------------------------------------
def local_rule_files(config: dict, catalog: str) -> list[str]:
    """The config's rule file patterns pointed at slos/_gen/<catalog> (the mount's source)."""
    return [str(GEN / catalog / Path(p).name) for p in config["rule_files"]]


@pytest.mark.parametrize("catalog", ["drill-12h", "google-30d"])
def test_promtool_accepts_the_config_and_its_rules(tmp_path, catalog):
    promtool = require_binary("promtool")
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["rule_files"] = local_rule_files(config, catalog)
    # promtool stats the drill job's token file: here, a stand-in for the compose secret
    [drill_job] = [j for j in config["scrape_configs"] if j["job_name"] == "gameday-drill"]
    assert drill_job["authorization"]["credentials_file"] == stack_file()["admin_token_file"]
    secret = tmp_path / "gameday_admin_token"
    secret.write_text("token\n")
    drill_job["authorization"]["credentials_file"] = str(secret)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = subprocess.run([promtool, "check", "config", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rules = sorted((GEN / catalog).glob("*.rules.yml"))
    assert len(rules) == 4
    assert proc.stdout.count("SUCCESS") >= 1 + len(rules), proc.stdout
    proc = subprocess.run([promtool, "check", "rules", *map(str, rules)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_amtool_accepts_the_alertmanager_config():
    amtool = require_binary("amtool")
    proc = subprocess.run([amtool, "check-config", str(ALERTMANAGER_YML)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


# -- real Prometheus and Alertmanager with the compose files ----------------------------------
class Verbatim:
    """A config file's content for PrometheusServer (``render``) and AlertmanagerServer
    (``to_yaml``), which write it into their working folder and start the binary on it."""

    def __init__(self, data: dict) -> None:
        self.data = data

    def render(self) -> dict:
        return self.data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.data, sort_keys=False)


def adapt_addresses(config: dict, addresses: dict[str, str]) -> dict:
    """The config with every compose host:port replaced by its local one."""
    out = copy.deepcopy(config)
    for job in out.get("scrape_configs", []):
        for group in job["static_configs"]:
            group["targets"] = [addresses[t] for t in group["targets"]]
    for am in out.get("alerting", {}).get("alertmanagers", []):
        for group in am["static_configs"]:
            group["targets"] = [addresses[t] for t in group["targets"]]
    for receiver in out.get("receivers", []):
        for hook in receiver.get("webhook_configs", []):
            url = urlparse(hook["url"])
            hook["url"] = url._replace(netloc=addresses[url.netloc]).geturl()
    return out


class Inbox(AlertmanagerInbox):
    """test_alertmanager's inbox, fed as the drill controller's webhook handler."""

    def on_webhook(self, body: dict) -> tuple[int, dict]:
        """The drill controller's webhook handler, as IncidentServer calls it."""
        try:
            notices = parse_webhook(body)
        except ValidationError as err:
            return 400, {"ok": False, "message": str(err)}
        self(notices)
        return 200, {"ok": True, "received": len(notices)}

    def wait_for(self, alertname: str, severity: str, timeout_s: float) -> AlertNotice | None:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for n in self.notices:
                    if n.alertname == alertname and n.severity == severity and n.firing:
                        return n
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_compose_configs_page_the_webhook_when_the_gateway_burns_its_budget(tmp_path):
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    from gameday.stack.admin import add_fault
    from gameday.stack.local import Stack
    from gameday.stack.spec import build_spec
    from gameday.traffic import send_traffic

    # The drill controller's own webhook endpoint, off 127.0.0.1 as in compose (there
    # 0.0.0.0:9095), where it wants the bearer token; 127.0.0.2 is loopback too.
    inbox = Inbox()
    token = "compose-test-token-0123456789"
    token_file = tmp_path / "admin-token"
    token_file.write_text(token + "\n")
    receiver = IncidentServer(token, lambda action, body: (404, {"ok": False}),
                              inbox.on_webhook, host="127.0.0.2", port=0).start()
    webhook_url = receiver.url + "/alerts"
    am_port, prom_port = free_port(), free_port()
    stop = threading.Event()
    loader = None
    spec = build_spec(free_ports=True, sets=["stack.monitor=false"])
    with Stack(spec, home=tmp_path / ".gameday") as stack:
        stack_yaml = stack_file()
        addresses = {netloc(stack_yaml["alertmanager_url"]): f"127.0.0.1:{am_port}",
                     "gameday:9095": netloc(receiver.url)}
        for service, urls in stack_yaml["services"].items():
            for replica, url in enumerate(urls):
                addresses[netloc(url)] = netloc(stack.url(service, replica))
        prom_config = adapt_addresses(yaml.safe_load(PROMETHEUS_YML.read_text()), addresses)
        prom_config["rule_files"] = local_rule_files(prom_config, "drill-12h")
        am_config = adapt_addresses(yaml.safe_load(ALERTMANAGER_YML.read_text()), addresses)
        hook = am_config["receivers"][0]["webhook_configs"][0]
        assert hook["url"] == webhook_url
        hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
        [drill_job] = [j for j in prom_config["scrape_configs"]
                       if j["job_name"] == "gameday-drill"]
        drill_job["authorization"]["credentials_file"] = str(token_file)

        am = AlertmanagerServer(Verbatim(am_config), tmp_path / "am", port=am_port)
        prom = PrometheusServer(Verbatim(prom_config), tmp_path / "prom", port=prom_port)
        try:
            am.launch()
            prom.launch()
            am.wait_ready()
            api = prom.wait_ready()
            wait_for_alertmanager(prom, until=time.time() + 30)
            deadline = time.monotonic() + 30
            while True:  # every replica scraped, labelled as the compose config says,
                # and the drill controller's events (job gameday-drill, no replica label)
                targets = api.targets()
                if len(targets) == 6 and all(t["health"] == "up" for t in targets):
                    break
                assert time.monotonic() < deadline, [(t["labels"], t["health"])
                                                     for t in targets]
                time.sleep(0.5)
            assert sorted((t["labels"]["job"], t["labels"].get("replica")) for t in targets
                          if t["labels"]["job"] != "gameday-drill") == [
                ("classifier", "0"), ("classifier", "1"), ("features", "0"),
                ("gateway", "0"), ("llm", "0")]
            assert not [n for n in inbox.notices if n.firing]  # nothing burns yet
            anonymous = httpx.post(webhook_url, json={"version": "4", "alerts": []}, timeout=5)
            assert anonymous.status_code == 401, "the drill's webhook off loopback must " \
                "want the token that alertmanager.yml sends"

            # Every classifier replica answers 500: the gateway falls back to its cache, which
            # the availability SLO does not count as served by the model.
            classifiers = [p for p in stack.state().processes if p.name == "classifier"]
            t_fault = time.time()
            add_fault(classifiers, stack.token, {"type": "error", "params": {"status": 500},
                                                 "route": "/v1/*", "ttl_s": 60})
            gateway = stack.url("gateway")

            def load() -> None:
                while not stop.is_set():
                    send_traffic(gateway, classify=20, generate=0, concurrency=4)

            loader = threading.Thread(target=load, daemon=True)
            loader.start()

            page = inbox.wait_for("GatewayAvailabilityBudgetBurn", "page", 60)
            assert page is not None, (notification_metrics(prom), am.alerts(), inbox.notices)
            print(f"\npage at the webhook {time.time() - t_fault:.1f} s after the fault")
            assert page.slo_id == "gateway-gateway-availability"
            assert page.service == "gateway"
            assert page.starts_at is not None and page.starts_at >= t_fault - 1
            assert page.runbook_url == "runbooks/GatewayAvailabilityBudgetBurn.md"
            assert (ROOT / page.runbook_url).is_file()
        finally:
            stop.set()
            if loader is not None:
                loader.join(15)
            prom.stop()
            am.stop()
            receiver.stop()
    assert prom.exited() is not None and am.exited() is not None
