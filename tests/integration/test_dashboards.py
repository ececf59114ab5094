"""Grafana dashboards, generated rules and runbooks stay honest.

Static: the provisioning points Grafana at the dashboards and at the datasource uid they use;
every dashboard parses, has a unique uid and title; every panel has the datasource and
targets; every PromQL expression (panel targets, annotations, variable queries) parses with
promql-parser once Grafana's variables are replaced by concrete values.

Live (slow): every metric named by a dashboard, a generated rule (every catalog) or a runbook
is recorded by a rule, built into Prometheus, or present in a live scrape of the local stack.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import promql_parser as pp
import pytest
import yaml

from tests.procs import ROOT

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
DATASOURCES_YML = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS_YML = GRAFANA / "provisioning" / "dashboards" / "gameday.yml"
DASHBOARDS = sorted(DASHBOARD_DIR.glob("*.json"))
EXPECTED_DASHBOARDS = {"services.json", "model-serving.json", "slo.json", "drill.json"}
RULE_FILES = sorted((ROOT / "slos" / "_gen").glob("*/*.rules.yml"))
RUNBOOKS = sorted((ROOT / "runbooks").glob("*.md"))
MOUNTED_DASHBOARDS = "/var/lib/grafana/dashboards"
DATASOURCE_UID = "prometheus"

# Series Prometheus itself writes: alert state from rule evaluation, and per-target up.
BUILTINS = {"ALERTS", "ALERTS_FOR_STATE", "up", "scrape_duration_seconds", "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling", "scrape_series_added"}
# Served by the drill controller while a drill runs (gameday.drill.eventmetrics).
DRILL_CONTROLLER = {"gameday_drill_events_total"}
# Families the services and rules export: a backticked word with one of these prefixes in a
# runbook is taken as a metric name even without a selector after it.
METRIC_PREFIXES = ("http_request", "model_", "llm_", "accelerator_", "gateway_", "feature_store_",
                   "slo:", "sloth_slo_info", "ALERTS")
# Core Grafana panel types only: no plugin to install.
PANEL_TYPES = ("row", "timeseries", "stat", "state-timeline", "table", "gauge", "bargauge")

# Grafana's global variables, as concrete values that promql-parser accepts in their places.
GLOBAL_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h",
                    "__interval_ms": "60000", "__range_s": "3600", "__range_ms": "3600000"}
VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
LABEL_VALUES = re.compile(r"^\s*label_values\((?P<expr>.*),\s*[a-zA-Z_]\w*\s*\)\s*$", re.S)
QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.*)\)\s*$", re.S)
LABEL_VALUES_NO_METRIC = re.compile(
    r"^\s*(label_values\(\s*[a-zA-Z_]\w*\s*\)|label_names\(\s*\))\s*$")


# -- reading dashboards -------------------------------------------------------------------------
def load(path: Path) -> dict:
    return json.loads(path.read_text())


def walk_panels(panels: list[dict]) -> Iterator[dict]:
    """Every panel, rows' nested panels included (rows themselves too)."""
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))


def variables_of(dashboard: dict) -> dict[str, dict]:
    return {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}


def variable_value(variable: dict) -> str:
    """A concrete value for a dashboard variable, good in a label matcher or a range."""
    if variable.get("type") in ("interval", "custom", "constant"):
        options = [o.get("value") for o in variable.get("options", []) if o.get("value")]
        query = variable.get("query")
        if not options and isinstance(query, str) and query:
            options = [query.split(",")[0].strip()]
        if options:
            return str(options[0])
    return "gameday"


def concrete(expr: str, variables: dict[str, dict]) -> str:
    """``expr`` with every Grafana variable replaced; KeyError names an undefined one."""
    def replace(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        if name in GLOBAL_VARIABLES:
            return GLOBAL_VARIABLES[name]
        if name not in variables:
            raise KeyError(name)
        return variable_value(variables[name])
    return VARIABLE.sub(replace, expr)


@dataclass(frozen=True)
class Query:
    where: str   # file and panel/annotation/variable, for messages
    expr: str    # as written in the dashboard
    promql: str  # the PromQL to parse (variables replaced, variable query functions unwrapped)
    undefined: str = ""  # a variable the expression uses but the dashboard does not define


def variable_query_text(variable: dict) -> str | None:
    if variable.get("type") != "query":
        return None
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    return query or variable.get("definition") or None


def unwrap_variable_query(text: str) -> str | None:
    """The PromQL inside a Prometheus variable query; None when it names no metric."""
    if LABEL_VALUES_NO_METRIC.match(text):
        return None
    for pattern in (LABEL_VALUES, QUERY_RESULT):
        match = pattern.match(text)
        if match:
            return match.group("expr")
    return text  # anything else would be an error: let the parser say so


def queries_of(path: Path) -> list[Query]:
    """Every PromQL expression of one dashboard: targets, annotations and variable queries."""
    dashboard = load(path)
    variables = variables_of(dashboard)
    found = []

    def add(where: str, expr: str, promql: str | None = None) -> None:
        try:
            found.append(Query(f"{path.name}: {where}", expr,
                               concrete(promql if promql is not None else expr, variables)))
        except KeyError as err:
            found.append(Query(f"{path.name}: {where}", expr, "", undefined=err.args[0]))

    for panel in walk_panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                add(f"panel {panel.get('title')!r} target {target.get('refId')}", target["expr"])
    for annotation in dashboard.get("annotations", {}).get("list", []):
        expr = annotation.get("expr") or annotation.get("target", {}).get("expr")
        if expr:
            add(f"annotation {annotation.get('name')!r}", expr)
    for name, variable in variables.items():
        text = variable_query_text(variable)
        if text:
            inner = unwrap_variable_query(text)
            if inner is not None:
                add(f"variable ${name}", text, inner)
    return found


ALL_QUERIES = [q for path in DASHBOARDS for q in queries_of(path)]


# -- metric names in PromQL ---------------------------------------------------------------------
@dataclass(frozen=True)
class MetricRef:
    name: str            # a metric name, or a regular expression when ``regex``
    regex: bool = False

    def __str__(self) -> str:
        return f'{{__name__=~"{self.name}"}}' if self.regex else self.name


def parse_promql(expr: str):
    try:
        return pp.parse(expr)
    except Exception as exc:  # promql-parser raises ValueError and friends
        raise ValueError(f"{exc}") from None


def metric_refs(expr: str) -> set[MetricRef]:
    """Metric names an expression selects (``{__name__=~...}`` as a regex reference)."""
    found: set[MetricRef] = set()

    def visit(node) -> None:
        if isinstance(node, pp.VectorSelector):
            if node.name:
                found.add(MetricRef(node.name))
            for m in node.matchers.matchers:
                if m.name == "__name__":
                    op = str(m.op)
                    if op == "MatchOp.Equal":
                        found.add(MetricRef(m.value))
                    elif op == "MatchOp.Re":
                        found.add(MetricRef(m.value, regex=True))

    pp.walk(parse_promql(expr), visit)
    return found


# -- generated rules ----------------------------------------------------------------------------
def rules_of(path: Path) -> list[dict]:
    return [rule for group in (yaml.safe_load(path.read_text()) or {}).get("groups", [])
            for rule in group.get("rules", [])]


def recorded_names() -> set[str]:
    return {rule["record"] for path in RULE_FILES for rule in rules_of(path) if "record" in rule}


def rule_refs() -> dict[str, set[MetricRef]]:
    """``{"slos/_gen/drill-12h/gateway.rules.yml": refs}`` over every catalog."""
    out: dict[str, set[MetricRef]] = {}
    for path in RULE_FILES:
        refs = out.setdefault(str(path.relative_to(ROOT)), set())
        for rule in rules_of(path):
            refs |= metric_refs(rule["expr"])
    return out


# -- runbooks -----------------------------------------------------------------------------------
FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)")
SPAN = re.compile(r"(`+)(.+?)\1")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')
TOKEN = re.compile(r"(?<![\w:.$/\-@])([A-Za-z_][A-Za-z0-9_:]*)")
LABEL_MATCH_AFTER = re.compile(r"\s*(=~|!~|!=|=)")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
                "and", "or", "unless", "inf", "nan"}


def strip_comment(line: str) -> str:
    """A line without its trailing ``# comment`` (outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def names_in_code(text: str) -> set[str]:
    """Metric-looking names in code that is not (whole) PromQL: a shell line, an inline span.

    A token counts when a selector follows it (``name{`` or ``name[``) or when it starts with
    a known metric family prefix; label names (``name=``, ``name!~``), quoted strings, flags,
    paths, ``$VARS`` and ``a.b`` settings never count.
    """
    text = QUOTED.sub('""', text)
    found = set()
    for match in TOKEN.finditer(text):
        token, rest = match.group(1), text[match.end():]
        if token in PROMQL_WORDS or LABEL_MATCH_AFTER.match(rest):
            continue
        if rest.lstrip().startswith("(") and not token.startswith(METRIC_PREFIXES):
            continue  # a function call
        if rest[:1] in ("{", "[") or token.startswith(METRIC_PREFIXES):
            found.add(token)
    return found


@dataclass
class RunbookNames:
    refs: dict[str, set[MetricRef]]      # "runbooks/X.md:12" -> refs
    errors: list[str]                    # PromQL blocks that do not parse


def runbook_names(path: Path) -> RunbookNames:
    """Names in one runbook: ``promql`` fenced blocks are parsed (expression by expression,
    comments stripped, an expression may span lines); other fenced blocks and inline code
    spans go through :func:`names_in_code`. Prose outside code is not read."""
    result = RunbookNames({}, [])
    rel = str(path.relative_to(ROOT))
    fence_lang: str | None = None
    pending, pending_line = "", 0

    def add(line_no: int, refs: set[MetricRef]) -> None:
        if refs:
            result.refs.setdefault(f"{rel}:{line_no}", set()).update(refs)

    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fence = FENCE.match(line)
        if fence:
            if fence_lang is None:
                fence_lang = fence.group(2).lower()
            else:
                if pending.strip():
                    result.errors.append(f"{rel}:{pending_line}: PromQL does not parse: "
                                         f"{pending.strip()!r}")
                fence_lang, pending = None, ""
            continue
        if fence_lang == "promql":
            code = strip_comment(line)
            if not code.strip():
                continue
            if not pending:
                pending_line = number
            pending = f"{pending} {code}" if pending else code
            try:
                add(pending_line, metric_refs(pending))
                pending = ""
            except ValueError:
                pass  # maybe continued on the next line
        elif fence_lang is not None:
            add(number, {MetricRef(n) for n in names_in_code(strip_comment(line))})
        else:
            for span in SPAN.finditer(line):
                add(number, {MetricRef(n) for n in names_in_code(span.group(2))})
    return result


# -- what exists -------------------------------------------------------------------------------
def exported_names(scrapes: dict[str, tuple[list, dict]]) -> set[str]:
    """Sample names of live scrapes, plus the base name of every histogram or summary."""
    names = set()
    for samples, types in scrapes.values():
        names |= {s.name for s in samples}
        for family, kind in types.items():
            if kind in ("histogram", "summary", "gaugehistogram") and any(
                    s.name in (family + "_count", family + "_bucket") for s in samples):
                names.add(family)
    return names


def missing_refs(refs: dict[str, set[MetricRef]], known: set[str]) -> list[str]:
    """``where: name`` for every reference no known name satisfies."""
    missing = []
    for where, names in sorted(refs.items()):
        for ref in sorted(names, key=str):
            if ref.regex:
                pattern = re.compile(ref.name)
                ok = any(pattern.fullmatch(name) for name in known)
            else:
                ok = ref.name in known
            if not ok:
                missing.append(f"{where}: {ref}")
    return missing


# == static tests ===============================================================================
def test_datasource_provisioning_is_the_default_prometheus_with_the_dashboards_uid():
    config = yaml.safe_load(DATASOURCES_YML.read_text())
    assert config["apiVersion"] == 1
    sources = config["datasources"]
    assert len(sources) == 1, f"{DATASOURCES_YML}: one datasource expected, got {sources}"
    ds = sources[0]
    assert (ds["type"], ds["uid"], ds["url"]) == ("prometheus", DATASOURCE_UID, "http://prometheus:9090")
    assert ds.get("isDefault") is True
    used = {panel["datasource"]["uid"] for path in DASHBOARDS
            for panel in walk_panels(load(path)["panels"]) if panel.get("type") != "row"}
    assert used == {ds["uid"]}, \
        f"dashboards use datasource uids {used}, provisioning has {ds['uid']!r}"


def test_dashboard_provider_loads_the_mounted_dashboards_directory():
    config = yaml.safe_load(PROVIDERS_YML.read_text())
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == MOUNTED_DASHBOARDS


def test_compose_mounts_dashboards_and_provisioning_where_grafana_reads_them():
    compose_path = ROOT / "docker-compose.yml"
    if not compose_path.exists():
        pytest.skip("docker-compose.yml not written yet")
    services = (yaml.safe_load(compose_path.read_text()) or {}).get("services", {})
    grafana = next((s for name, s in services.items() if "grafana" in name
                    or "grafana" in str(s.get("image", ""))), None)
    assert grafana is not None, "docker-compose.yml: no grafana service"
    mounts = []
    for volume in grafana.get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume.get("target", "")
        else:
            source, target = (volume.split(":") + [""])[:2]
        mounts.append((Path(source.removeprefix("./")).as_posix().rstrip("/"), target.rstrip("/")))

    def container_path(host: Path) -> str | None:
        rel = host.relative_to(ROOT).as_posix()
        for source, target in mounts:
            if rel == source or rel.startswith(source + "/"):
                return target + rel[len(source):]
        return None

    assert container_path(DASHBOARDS[0]) == f"{MOUNTED_DASHBOARDS}/{DASHBOARDS[0].name}", \
        f"docker-compose.yml: grafana must mount deploy/grafana/dashboards at " \
        f"{MOUNTED_DASHBOARDS}; mounts {mounts}"
    for path in (DATASOURCES_YML, PROVIDERS_YML):
        rel = path.relative_to(GRAFANA / "provisioning").as_posix()
        expected = f"/etc/grafana/provisioning/{rel}"
        assert container_path(path) == expected, \
            f"docker-compose.yml: {path.relative_to(ROOT)} must appear at {expected}; " \
            f"mounts {mounts}"


def test_the_four_dashboards_exist_with_unique_uids_and_titles():
    assert EXPECTED_DASHBOARDS <= {p.name for p in DASHBOARDS}
    dashboards = {p.name: load(p) for p in DASHBOARDS}
    uids = [d.get("uid") for d in dashboards.values()]
    titles = [d.get("title") for d in dashboards.values()]
    assert all(uids) and len(set(uids)) == len(uids), f"uids not unique or missing: {uids}"
    assert all(titles) and len(set(titles)) == len(titles), \
        f"titles not unique or missing: {titles}"
    for name, d in dashboards.items():
        assert 36 <= d.get("schemaVersion", 0) <= 41, \
            f"{name}: schemaVersion {d.get('schemaVersion')}"
        assert d.get("id") is None, f"{name}: provisioned dashboards carry no database id"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_has_the_datasource_and_promql_targets(path):
    dashboard = load(path)
    problems, ids = [], []
    for panel in walk_panels(dashboard["panels"]):
        ids.append(panel.get("id"))
        where = f"{path.name}: panel {panel.get('title')!r}"
        grid = panel.get("gridPos", {})
        if not (grid.get("w", 0) > 0 and grid.get("h", 0) > 0 and grid.get("x", -1) >= 0
                and grid["x"] + grid["w"] <= 24):
            problems.append(f"{where}: gridPos {grid} outside Grafana's 24 columns")
        if panel.get("type") not in PANEL_TYPES:
            problems.append(f"{where}: panel type {panel.get('type')!r} not in {PANEL_TYPES}")
        if panel.get("type") == "row":
            continue  # a row is a layout container
        if panel.get("datasource") != {"type": "prometheus", "uid": DATASOURCE_UID}:
            problems.append(f"{where}: datasource {panel.get('datasource')}")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no targets")
        for target in targets:
            if not (target.get("expr") or "").strip():
                problems.append(f"{where}: target {target.get('refId')} has no expr")
            if target.get("datasource", panel.get("datasource")) != panel.get("datasource"):
                problems.append(f"{where}: target {target.get('refId')} uses another datasource")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            problems.append(f"{where}: duplicate refIds {refs}")
    assert len(set(ids)) == len(ids), f"{path.name}: duplicate panel ids"
    for annotation in dashboard["annotations"]["list"]:
        if annotation.get("builtIn"):
            continue
        if annotation.get("datasource", {}).get("uid") != DATASOURCE_UID:
            problems.append(f"{path.name}: annotation {annotation.get('name')!r} datasource "
                            f"{annotation.get('datasource')}")
    for variable in variables_of(dashboard).values():
        source = variable.get("datasource", {})
        if variable.get("type") == "query" and source.get("uid") != DATASOURCE_UID:
            problems.append(f"{path.name}: variable ${variable['name']} datasource {source}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_promql_expression_parses(path):
    queries = [q for q in ALL_QUERIES if q.where.startswith(path.name + ":")]
    assert queries, f"{path.name}: no PromQL found"
    errors = []
    for q in queries:
        if q.undefined:
            errors.append(f"{q.where}: uses ${q.undefined}, not a variable of the dashboard"
                          f"\n    {q.expr}")
            continue
        try:
            parse_promql(q.promql)
        except ValueError as exc:
            errors.append(f"{q.where}: {exc}\n    {q.expr}\n    parsed as: {q.promql}")
    assert not errors, "PromQL that promql-parser rejects:\n" + "\n".join(errors)


def test_the_drill_dashboard_annotates_alerts_and_what_prometheus_sees_happen():
    annotations = load(DASHBOARD_DIR / "drill.json")["annotations"]["list"]
    exprs = [a.get("expr", "") for a in annotations if not a.get("builtIn")]
    assert any(e.startswith("ALERTS{") and 'alertstate="firing"' in e for e in exprs)
    assert any(e.startswith("up{") and e.endswith("== 0") for e in exprs), \
        "no annotation for processes down"
    assert any(e.startswith("increase(gameday_drill_events_total{") for e in exprs), \
        "no annotation for the drill's own events (page, ack, mitigation, ...)"
    for panel_dashboard in ("slo.json", "drill.json"):
        exprs = {t["expr"] for p in walk_panels(load(DASHBOARD_DIR / panel_dashboard)["panels"])
                 for t in p.get("targets", [])}
        for name in ("slo:current_burn_rate:ratio", "slo:period_error_budget_remaining:ratio",
                     "ALERTS"):
            assert any(name in e for e in exprs), f"{panel_dashboard}: no panel on {name}"


def test_rules_and_runbooks_parse_and_name_metrics():
    """The extraction itself: rules parse, runbook PromQL blocks parse, and the runbook
    reader finds metrics but not label names, settings or label values."""
    assert RULE_FILES and RUNBOOKS
    refs = rule_refs()
    assert MetricRef("gateway_classify_answers_total") in \
        refs["slos/_gen/drill-12h/gateway.rules.yml"]
    errors = [e for path in RUNBOOKS for e in runbook_names(path).errors]
    assert not errors, "\n".join(errors)
    gateway = runbook_names(ROOT / "runbooks" / "GatewayAvailabilityBudgetBurn.md")
    names = {r.name for refs in gateway.refs.values() for r in refs}
    assert {"slo:sli_error:ratio_rate5m", "gateway_classify_answers_total", "gateway_circuit_state",
            "accelerator_xid_errors_total", "model_queue_depth",
            "gateway_fallbacks_total"} <= names, names
    assert not names & {"sloth_id", "model_degraded", "max_queue_size", "answer", "rate", "sum"}
    assert names_in_code('model_predictions_total{outcome="correct"|"incorrect"}') == \
        {"model_predictions_total"}
    assert names_in_code("gameday up --set llm.kv_slots=16 --set features.pool_size=8") == set()
    assert names_in_code('sloth_id="gateway-gateway-availability"') == set()
    assert names_in_code("max_batch_size") == set()


# == live scrape ================================================================================
def scrape_live_stack(tmp_path: Path) -> dict[str, tuple[list, dict]]:
    """Start the local stack, send a little traffic through the gateway (labelled canaries
    included, so lazily created series exist), and scrape every process's /metrics."""
    from gameday.engine.exposition import fetch
    from gameday.stack import Stack, build_spec
    from gameday.traffic import send_traffic

    with Stack(build_spec(free_ports=True), home=tmp_path / ".gameday") as stack:
        result = send_traffic(stack.url("gateway"), classify=60, generate=3, concurrency=8,
                              labels_url=stack.url("features"), canary_every=3)
        assert result.classify_ok and result.generate_ok, f"traffic failed: {result}"
        return {f"{p.name}-{p.replica}": fetch(stack.url(p.name, p.replica))
                for p in stack.state().processes}


@pytest.fixture(scope="module")
def live_names(tmp_path_factory) -> set[str]:
    t0 = time.monotonic()
    scrapes = scrape_live_stack(tmp_path_factory.mktemp("dashboards-stack"))
    print(f"\nlive stack scraped in {time.monotonic() - t0:.1f} s: {sorted(scrapes)}")
    assert {"gateway-0", "classifier-0", "classifier-1", "llm-0", "features-0"} <= set(scrapes)
    return exported_names(scrapes)


def known_names(live: set[str]) -> set[str]:
    return live | recorded_names() | BUILTINS | DRILL_CONTROLLER


@pytest.mark.slow
def test_dashboards_name_only_exported_or_recorded_metrics(live_names):
    refs: dict[str, set[MetricRef]] = {}
    for q in ALL_QUERIES:
        try:
            refs.setdefault(q.where, set()).update(metric_refs(q.promql))
        except ValueError:
            pass  # test_every_promql_expression_parses reports it
    missing = missing_refs(refs, known_names(live_names))
    assert not missing, ("dashboards name metrics that no service exports (live scrape) and no "
                         "rule records:\n" + "\n".join(missing))


@pytest.mark.slow
def test_generated_rules_name_only_exported_or_recorded_metrics(live_names):
    missing = missing_refs(rule_refs(), known_names(live_names))
    assert not missing, ("generated rules (slos/_gen, every catalog) name metrics that no service "
                         "exports (live scrape) and no rule records:\n" + "\n".join(missing))


@pytest.mark.slow
def test_runbooks_name_only_exported_or_recorded_metrics(live_names):
    refs: dict[str, set[MetricRef]] = {}
    for path in RUNBOOKS:
        refs.update(runbook_names(path).refs)
    assert refs, "no metric names found in runbooks/*.md"
    missing = missing_refs(refs, known_names(live_names))
    assert not missing, ("runbooks name metrics that no service exports (live scrape) and no "
                         "rule records:\n" + "\n".join(missing))
