"""Check OpenSLO documents and build the SLO model; every error names file, SLO, field, value.

``validate_*`` raise ValidationError; ``collect_slos`` gathers every error of a set of files
so the CLI can print one line per error.
"""

from __future__ import annotations

import math
from pathlib import Path

from prometheus_client.utils import floatToGoString

from gameday.errors import ValidationError
from gameday.telemetry import conventions

from .alerting import alert_metadata, merge_alert_map
from .model import SLO, Indicator, Selector
from .names import SEVERITIES, parse_duration
from .spec import Document, find_spec_files, load_documents, parse_selector

# Histograms whose buckets are not conventions.LATENCY_BUCKETS.
HISTOGRAM_BUCKETS = {
    "llm_inter_token_latency_seconds": conventions.TOKEN_LATENCY_BUCKETS,
    "model_batch_size": conventions.BATCH_SIZE_BUCKETS,
}
RUNBOOK_ANNOTATION = "gameday/runbook-url"
ALERT_NAME_ANNOTATION = "gameday/alert-name"


class Index:
    """Documents by kind and name, across every file given."""

    def __init__(self, docs: list[Document]) -> None:
        self.by_kind: dict[str, dict[str, Document]] = {}
        for doc in docs:
            seen = self.by_kind.setdefault(doc.kind, {})
            if doc.name in seen:
                raise ValidationError(f"{doc.source}: {doc.kind.lower()} {doc.name!r} is already "
                                      f"defined in {seen[doc.name].source}")
            seen[doc.name] = doc

    def get(self, kind: str, name: str) -> Document | None:
        return self.by_kind.get(kind, {}).get(name)

    def all(self, kind: str) -> list[Document]:
        return list(self.by_kind.get(kind, {}).values())


def collect_slos(paths: list[Path]) -> tuple[list[SLO], list[str]]:
    """Every SLO of ``paths`` that is valid, and one message per error found."""
    errors: list[str] = []
    docs: list[Document] = []
    try:
        files = find_spec_files(paths)
    except ValidationError as err:
        return [], [str(err)]
    for path in files:
        try:
            docs.extend(load_documents(path))
        except ValidationError as err:
            errors.append(str(err))
    try:
        index = Index(docs)
    except ValidationError as err:
        return [], errors + [str(err)]
    slos = []
    for doc in index.all("SLO"):
        try:
            slos.append(validate_slo(doc, index))
        except ValidationError as err:
            errors.append(str(err))
    for doc in index.all("AlertPolicy"):
        try:
            validate_alert_policy(doc.spec, index, f"{doc.source}: alertpolicy {doc.name!r}")
        except ValidationError as err:
            errors.append(str(err))
    ids = {}
    for slo in slos:
        if slo.id in ids:
            errors.append(f"{slo.source}: slo {slo.name!r}: id {slo.id!r} clashes with "
                          f"{ids[slo.id]}")
        ids[slo.id] = slo.source
    return slos, errors


def load_slos(paths: list[Path]) -> list[SLO]:
    """Valid SLOs of ``paths``, or ValidationError with every error, one per line."""
    slos, errors = collect_slos(paths)
    if errors:
        raise ValidationError("\n".join(errors))
    return slos


SLO_SPEC_FIELDS = ("description", "service", "indicator", "indicatorRef", "timeWindow",
                   "budgetingMethod", "objectives", "alertPolicies")


def validate_known_fields(spec: dict, allowed: tuple[str, ...], where: str) -> None:
    """A misspelt field is an error that names it (and what was probably meant)."""
    import difflib

    for key in spec:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else \
                f"; fields: {', '.join(allowed)}"
            raise ValidationError(f"{where}: unknown field spec.{key}{hint}")


def validate_slo(doc: Document, index: Index) -> SLO:
    where = f"{doc.source}: slo {doc.name!r}"
    spec = doc.spec
    validate_known_fields(spec, SLO_SPEC_FIELDS, where)
    service = spec.get("service")
    if not isinstance(service, str) or not service:
        raise ValidationError(f"{where}: service must be a service name, got {service!r}")
    if index.all("Service") and index.get("Service", service) is None:
        raise ValidationError(f"{where}: service {service!r} is not a declared Service")
    period_s = validate_time_window(spec.get("timeWindow"), where)
    method = spec.get("budgetingMethod", "Occurrences")
    if method != "Occurrences":
        raise ValidationError(
            f"{where}: budgetingMethod {method!r} is not supported; use Occurrences "
            f"(Timeslices and RatioTimeslices cannot be computed from the rules gameday "
            f"generates)")
    indicator = validate_indicator_ref(spec, index, where)
    target = validate_objectives(spec.get("objectives"), where)
    if spec.get("alertPolicies") is None:  # none given: alert as the catalog says
        severities, runbook, alert_labels, alert_annotations = SEVERITIES, "", {}, {}
    else:
        severities, runbook, alert_labels, alert_annotations = validate_alert_policies(
            spec["alertPolicies"], index, where)
    annotations = doc.metadata.get("annotations") or {}
    labels = doc.metadata.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ValidationError(f"{where}: metadata.labels must map names to strings")
    return SLO(
        name=doc.name, service=service, source=doc.source,
        description=str(spec.get("description") or doc.metadata.get("displayName") or doc.name),
        indicator=indicator, target=target, period_s=period_s, severities=severities,
        labels=dict(labels), alert_name=str(annotations.get(ALERT_NAME_ANNOTATION) or ""),
        runbook_url=str(annotations.get(RUNBOOK_ANNOTATION) or runbook or ""),
        alert_labels=alert_labels, alert_annotations=alert_annotations,
    )


def validate_time_window(raw: object, where: str) -> float:
    if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], dict):
        raise ValidationError(f"{where}: timeWindow must be a list of one window, got {raw!r}")
    window = raw[0]
    if "calendar" in window or window.get("isRolling") is not True:
        raise ValidationError(f"{where}: timeWindow[0] must be rolling (isRolling: true); "
                              f"calendar windows are not supported, got {window!r}")
    return parse_duration(window.get("duration"), f"{where}: timeWindow[0].duration")


def validate_objectives(raw: object, where: str) -> float:
    if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], dict):
        raise ValidationError(f"{where}: objectives must be a list of exactly one objective")
    obj = raw[0]
    if ("target" in obj) == ("targetPercent" in obj):
        raise ValidationError(f"{where}: objectives[0] needs one of target or targetPercent")
    if "target" in obj:
        field, value, top = "target", obj["target"], 1
    else:
        field, value, top = "targetPercent", obj["targetPercent"], 100
    validate_finite(value, f"{where}: objectives[0].{field}")
    if value >= top:
        raise ValidationError(f"{where}: objectives[0].{field} must be below {top}, got {value}")
    if value <= 0:
        raise ValidationError(f"{where}: objectives[0].{field} must be above 0, got {value}")
    return float(value) / top


def validate_finite(value: object, where: str) -> None:
    """A number that is neither a bool nor NaN nor infinite; the one check of every
    number of a spec, so ``slo validate`` refuses what ``slo generate`` would."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValidationError(f"{where} must be a finite number, got {value!r}")


def validate_indicator_ref(spec: dict, index: Index, where: str) -> Indicator:
    if ("indicator" in spec) == ("indicatorRef" in spec):
        raise ValidationError(f"{where}: needs exactly one of indicator or indicatorRef")
    if "indicatorRef" in spec:
        ref = spec["indicatorRef"]
        sli = index.get("SLI", ref) if isinstance(ref, str) else None
        if sli is None:
            raise ValidationError(f"{where}: indicatorRef {ref!r} is not a declared SLI")
        return validate_indicator(sli.spec, index, f"{where}: sli {ref!r}")
    inline = spec["indicator"]
    if not isinstance(inline, dict) or not isinstance(inline.get("spec"), dict):
        raise ValidationError(f"{where}: indicator must have a spec")
    return validate_indicator(inline["spec"], index, f"{where}: indicator")


def validate_indicator(spec: dict, index: Index, where: str) -> Indicator:
    if "thresholdMetric" in spec:
        raise ValidationError(f"{where}: thresholdMetric is not supported; use ratioMetric "
                              f"(for latency, good = a _bucket{{le=...}} series, total = _count)")
    ratio = spec.get("ratioMetric")
    if not isinstance(ratio, dict):
        raise ValidationError(f"{where}: ratioMetric is missing")
    if ratio.get("counter") is not True:
        raise ValidationError(f"{where}: ratioMetric.counter must be true, got "
                              f"{ratio.get('counter')!r}")
    if "rawType" in ratio or "raw" in ratio:
        raise ValidationError(f"{where}: ratioMetric.raw is not supported; give good or bad "
                              f"and total")
    if ("good" in ratio) == ("bad" in ratio):
        raise ValidationError(f"{where}: ratioMetric needs exactly one of good or bad")
    if "total" not in ratio:
        raise ValidationError(f"{where}: ratioMetric.total is missing")
    kind = "good" if "good" in ratio else "bad"
    part = validate_metric(ratio[kind], index, f"{where}: ratioMetric.{kind}")
    total = validate_metric(ratio["total"], index, f"{where}: ratioMetric.total")
    return Indicator(total=total, **{kind: part})


def validate_metric(raw: object, index: Index, where: str) -> Selector:
    source = raw.get("metricSource") if isinstance(raw, dict) else None
    if not isinstance(source, dict):
        raise ValidationError(f"{where}.metricSource is missing")
    if "metricSourceRef" in source:
        ref = source["metricSourceRef"]
        ds = index.get("DataSource", ref) if isinstance(ref, str) else None
        if ds is None:
            raise ValidationError(f"{where}.metricSource.metricSourceRef {ref!r} is not a "
                                  f"declared DataSource")
        kind = ds.spec.get("type")
    else:
        kind = source.get("type")
    if str(kind).lower() != "prometheus":
        raise ValidationError(f"{where}.metricSource.type must be Prometheus, got {kind!r}")
    query = (source.get("spec") or {}).get("query")
    selector = parse_selector(query, f"{where}.metricSource.spec.query")
    validate_bucket(selector, f"{where}.metricSource.spec.query")
    return selector


def validate_bucket(selector: Selector, where: str) -> None:
    """A ``_bucket`` selector needs ``le="T"`` with T a bucket boundary, written as exposed."""
    if not selector.metric.endswith("_bucket"):
        return
    base = selector.metric[: -len("_bucket")]
    les = [m for m in selector.matchers if m.label == "le"]
    if len(les) != 1 or les[0].op != "=":
        raise ValidationError(f"{where}: a _bucket selector needs exactly one le=\"...\" "
                              f"matcher, got {selector.text()!r}")
    buckets = HISTOGRAM_BUCKETS.get(base, conventions.LATENCY_BUCKETS)
    text = les[0].value
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(f"{where}: le must be a number, got {text!r}") from None
    if value not in buckets:
        raise ValidationError(f"{where}: le={text!r} is not a bucket boundary of {base} "
                              f"(buckets: {', '.join(floatToGoString(b) for b in buckets)})")
    if text != floatToGoString(value):
        raise ValidationError(f"{where}: le must be written as /metrics shows it, "
                              f"{floatToGoString(value)!r}, got {text!r}")


AlertMaps = dict[str, dict[str, str]]  # severity -> name -> value


def validate_alert_policies(raw: object, index: Index,
                            where: str) -> tuple[tuple[str, ...], str, AlertMaps, AlertMaps]:
    """Severities the SLO alerts on (from its policies' conditions), a runbook URL, and the
    labels and annotations each severity's alert carries.

    A policy's metadata labels/annotations go on the alerts of its conditions, a
    condition's own on its alert, the condition's winning (as Sloth's page_alert and
    ticket_alert win over alerting's). Annotations named with a '/' are settings
    (``gameday/runbook-url``), not carried.
    """
    if not isinstance(raw, list):
        raise ValidationError(f"{where}: alertPolicies must be a list, got {raw!r}")
    labels: AlertMaps = {}
    annotations: AlertMaps = {}
    severities: set[str] = set()
    runbook = ""
    for i, item in enumerate(raw):
        at = f"{where}: alertPolicies[{i}]"
        if isinstance(item, str):
            doc = index.get("AlertPolicy", item)
            if doc is None:
                raise ValidationError(f"{at}: {item!r} is not a declared AlertPolicy")
            spec, meta, meta_at = doc.spec, doc.metadata, f"{doc.source}: alertpolicy {item!r}"
        elif isinstance(item, dict) and isinstance(item.get("spec"), dict):
            spec, meta, meta_at = item["spec"], item.get("metadata") or {}, at
        else:
            raise ValidationError(f"{at} must be an AlertPolicy name or an inline AlertPolicy")
        common = alert_metadata(meta, meta_at)
        for severity, cond_meta, cond_at in validate_alert_policy(spec, index, at):
            severities.add(severity)
            own = alert_metadata(cond_meta, cond_at)
            for kind, into, part in (("label", labels, 0), ("annotation", annotations, 1)):
                if common[part] or own[part]:
                    merge_alert_map(into.setdefault(severity, {}),
                                    {**common[part], **own[part]}, f"{at}: {kind}", severity)
        runbook = runbook or (meta.get("annotations") or {}).get(RUNBOOK_ANNOTATION, "")
    return tuple(s for s in SEVERITIES if s in severities), runbook, labels, annotations


def validate_alert_policy(spec: dict, index: Index,
                          where: str) -> list[tuple[str, dict, str]]:
    """(severity, metadata, where the metadata is) of each condition of a policy."""
    conditions = spec.get("conditions")
    if not isinstance(conditions, list) or not conditions:
        raise ValidationError(f"{where}: conditions must be a non-empty list")
    found = []
    for i, cond in enumerate(conditions):
        at = f"{where}: conditions[{i}]"
        if isinstance(cond, dict) and "conditionRef" in cond:
            ref = cond["conditionRef"]
            doc = index.get("AlertCondition", ref) if isinstance(ref, str) else None
            if doc is None:
                raise ValidationError(f"{at}.conditionRef {ref!r} is not a declared "
                                      f"AlertCondition")
            cond_spec, meta, meta_at = doc.spec, doc.metadata, \
                f"{doc.source}: alertcondition {ref!r}"
        elif isinstance(cond, dict) and isinstance(cond.get("spec"), dict):
            cond_spec, meta, meta_at = cond["spec"], cond.get("metadata") or {}, at
        else:
            raise ValidationError(f"{at} must be a conditionRef or an inline AlertCondition")
        found.append((validate_alert_condition(cond_spec, at), meta, meta_at))
    return found


def validate_alert_condition(spec: dict, where: str) -> str:
    severity = spec.get("severity")
    if severity not in SEVERITIES:
        raise ValidationError(f"{where}.severity must be page or ticket, got {severity!r}")
    condition = spec.get("condition")
    if not isinstance(condition, dict) or condition.get("kind") != "burnrate":
        kind = condition.get("kind") if isinstance(condition, dict) else condition
        raise ValidationError(f"{where}.condition.kind must be burnrate, got {kind!r}")
    for key in ("lookbackWindow", "alertAfter"):
        if key in condition:
            parse_duration(condition[key], f"{where}.condition.{key}")
    threshold = condition.get("threshold")
    if threshold is not None:
        validate_finite(threshold, f"{where}.condition.threshold")
    if threshold is not None and threshold <= 0:
        raise ValidationError(f"{where}.condition.threshold must be a positive number, "
                              f"got {threshold!r}")
    return severity
