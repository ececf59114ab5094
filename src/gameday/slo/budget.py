"""Error-budget policy: steps as data, checked against where each SLO stands.

A policy is a list of steps like slo-generator's error budget policy
(``{name, window, burn_rate_threshold, alert, message_alert, message_ok}``) plus the
``action`` a step triggers, in plain words. A step triggers when the SLO's burn rate over
its window reaches the threshold; steps are listed in order of precedence. Windows are in
terms of the SLO period (``slo_period``, 30d by default) and are scaled to the period the
rules were generated for (``slo:time_period:days``), so a ``1h`` step reads the 1m window
of the drill-12h catalog.

Where a policy lives (``load_policy``): a YAML list of steps (slo-generator's file), a
mapping with ``steps``, or an OpenSLO document with ``spec.errorBudgetPolicy`` (how
slos/policies.yaml carries it, so the spec loader still reads that file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gameday.errors import ValidationError

from .consumption import format_consumed
from .names import format_duration, parse_duration
from .status import SLOStatus, window_seconds

DEFAULT_POLICY = Path("slos/policies.yaml")
POLICY_KEY = "errorBudgetPolicy"
DEFAULT_OK_ACTION = "Within budget. Ship features as planned."
NO_DATA_ACTION = "No data: no traffic recorded for this SLO, nothing to decide."
STEP_FIELDS = ("name", "window", "burn_rate_threshold", "alert", "message_alert",
               "message_ok", "action")
POLICY_FIELDS = ("slo_period", "ok_action", "steps")


@dataclass(frozen=True)
class Step:
    name: str
    window_s: float
    burn_rate_threshold: float
    action: str
    alert: bool = False
    message_alert: str = ""
    message_ok: str = ""

    @property
    def window(self) -> str:
        return format_duration(self.window_s)


@dataclass(frozen=True)
class Policy:
    source: str
    steps: tuple[Step, ...]
    slo_period_s: float = 30 * 86400.0
    ok_action: str = DEFAULT_OK_ACTION


# -- loading and validation ----------------------------------------------------------------
def load_policy(path: Path, windows: set[float] | None = None) -> Policy:
    """Read and validate the policy of ``path``; ``windows``: the ones the rules record."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: no such policy file")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as err:
        raise ValidationError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    found = []
    for doc in docs:
        if isinstance(doc, list):
            found.append(({"steps": doc}, str(path)))
        elif isinstance(doc, dict) and "steps" in doc and "apiVersion" not in doc:
            found.append((doc, str(path)))
        elif isinstance(doc, dict) and isinstance(doc.get("spec"), dict) \
                and POLICY_KEY in doc["spec"]:
            name = (doc.get("metadata") or {}).get("name")
            where = f"{path}: {str(doc.get('kind', '')).lower()} {name!r}: spec.{POLICY_KEY}"
            found.append((doc["spec"][POLICY_KEY], where))
    if len(found) != 1:
        raise ValidationError(
            f"{path}: expected one error-budget policy (a list of steps, a mapping with "
            f"'steps', or an OpenSLO document with spec.{POLICY_KEY}), found {len(found)}")
    raw, where = found[0]
    return validate_policy(raw, where, windows)


def validate_policy(raw: object, where: str, windows: set[float] | None = None) -> Policy:
    """A Policy, or ValidationError naming the file, step, field and bad value."""
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}: must be a mapping with 'steps', got {raw!r}")
    for key in raw:
        if key not in POLICY_FIELDS:
            raise ValidationError(f"{where}: unknown field {key!r} (known: "
                                  f"{', '.join(POLICY_FIELDS)})")
    period = parse_duration(raw.get("slo_period", "30d"), f"{where}: field 'slo_period'")
    ok_action = raw.get("ok_action", DEFAULT_OK_ACTION)
    if not isinstance(ok_action, str) or not ok_action.strip():
        raise ValidationError(f"{where}: field 'ok_action' must be a sentence, got {ok_action!r}")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ValidationError(f"{where}: field 'steps' must be a non-empty list, got {steps!r}")
    allowed = None if windows is None else set(windows) | {period}
    out: list[Step] = []
    for i, item in enumerate(steps):
        step = validate_step(item, f"{where}: step {i + 1}", period, allowed)
        if any(s.name == step.name for s in out):
            raise ValidationError(f"{where}: step {i + 1}: field 'name': {step.name!r} is "
                                  f"already the name of another step")
        out.append(step)
    return Policy(where.split(": ")[0], tuple(out), period, ok_action.strip())


def validate_step(raw: object, where: str, period_s: float,
                  allowed: set[float] | None) -> Step:
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}: must be a mapping, got {raw!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{where}: field 'name' must be a non-empty string, got {name!r}")
    where = f"{where} ({name!r})"
    for key in raw:
        if key not in STEP_FIELDS:
            raise ValidationError(f"{where}: unknown field {key!r} (known: "
                                  f"{', '.join(STEP_FIELDS)})")
    for key in ("window", "burn_rate_threshold", "action"):
        if key not in raw:
            raise ValidationError(f"{where}: missing field {key!r}")
    window = raw["window"]
    if isinstance(window, bool) or not isinstance(window, (int, str)):
        raise ValidationError(f"{where}: field 'window' must be seconds or a duration like "
                              f"1h, got {window!r}")
    if isinstance(window, int):  # slo-generator writes seconds
        if window <= 0:
            raise ValidationError(f"{where}: field 'window' must be positive, got {window!r}")
        window_s = float(window)
    else:
        window_s = parse_duration(window, f"{where}: field 'window'")
    if window_s > period_s:
        raise ValidationError(f"{where}: field 'window' must not exceed the SLO period "
                              f"{format_duration(period_s)}, got {window!r}")
    if allowed is not None and window_s not in allowed:
        known = ", ".join(format_duration(w) for w in sorted(allowed))
        raise ValidationError(f"{where}: field 'window' must be a window the rules record "
                              f"({known}), got {window!r}")
    threshold = raw["burn_rate_threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not threshold > 0 or not math.isfinite(threshold):
        raise ValidationError(f"{where}: field 'burn_rate_threshold' must be a positive "
                              f"number, got {threshold!r}")
    alert = raw.get("alert", False)
    if not isinstance(alert, bool):
        raise ValidationError(f"{where}: field 'alert' must be true or false, got {alert!r}")
    texts = {}
    for key in ("action", "message_alert", "message_ok"):
        value = raw.get(key, "")
        if not isinstance(value, str) or (key == "action" and not value.strip()):
            raise ValidationError(f"{where}: field {key!r} must be a sentence, got {value!r}")
        texts[key] = value.strip()
    return Step(name.strip(), window_s, float(threshold), texts["action"], alert,
                texts["message_alert"] or f"{name}: burn rate at or above {threshold}x",
                texts["message_ok"])


# -- evaluation ----------------------------------------------------------------------------
@dataclass
class StepResult:
    step: Step
    burn: float  # burn rate over the step's window; NaN: no data (no traffic, no rule)
    budget_spent: float  # share of the period's budget spent in the window: burn x w / period
    window_s: float = math.nan  # the step's window as the rules record it (scaled)
    unjudged: str = ""  # why this step cannot be judged on the data (too short a span)

    @property
    def judged(self) -> bool:
        return not self.unjudged

    @property
    def triggered(self) -> bool:
        return self.judged and self.burn >= self.step.burn_rate_threshold


@dataclass
class SLOBudget:
    status: SLOStatus
    results: list[StepResult] = field(default_factory=list)
    ok_action: str = DEFAULT_OK_ACTION

    @property
    def triggered(self) -> list[StepResult]:
        return [r for r in self.results if r.triggered]

    @property
    def unjudged(self) -> list[StepResult]:
        return [r for r in self.results if not r.judged]

    @property
    def has_data(self) -> bool:
        st = self.status
        if st.use is not None:
            return bool(st.use.get("total"))
        return st.budget_remaining == st.budget_remaining or any(
            r.burn == r.burn for r in self.results)

    @property
    def actions(self) -> list[str]:
        if not self.has_data:
            return [NO_DATA_ACTION]
        if self.triggered:
            return [r.step.action for r in self.triggered]
        if self.unjudged:
            windows = ", ".join(format_duration(w) for w in
                                sorted({r.window_s for r in self.unjudged}))
            return [f"Not enough data to decide: no step triggered on the windows the data "
                    f"covers, and {windows} cannot be judged yet (see above). Record longer "
                    f"before acting on this policy."]
        return [self.ok_action]

    @property
    def alerting(self) -> bool:
        return any(r.step.alert for r in self.triggered)

    def as_dict(self) -> dict:
        st = self.status
        return _clean({
            "slo_id": st.slo_id, "service": st.service, "slo": st.slo,
            "objective": st.objective, "budget_consumed": st.consumed,
            "budget_consumed_text": format_consumed(st.consumed),
            "span_s": st.span_s, "events": None if st.use is None else
            {"bad": st.use.get("bad"), "total": st.use.get("total")},
            "alerting": self.alerting, "actions": self.actions,
            "steps": [{"name": r.step.name, "window": r.step.window,
                       "burn_rate_threshold": r.step.burn_rate_threshold, "burn": r.burn,
                       "budget_spent": r.budget_spent, "triggered": r.triggered,
                       "judged": r.judged, "unjudged_reason": r.unjudged or None,
                       "alert": r.step.alert,
                       "message": r.step.message_alert if r.triggered else r.step.message_ok,
                       "action": r.step.action} for r in self.results]})


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _scale(status: SLOStatus, slo_period_s: float) -> float:
    days = status.period_days
    return days * 86400 / slo_period_s if days == days and days > 0 else 1.0


def scaled_burn(status: SLOStatus, window_s: float, slo_period_s: float) -> float:
    """The SLO's burn rate over ``window_s`` (SLO-period terms) as the rules recorded it."""
    want = window_s * _scale(status, slo_period_s)
    for text, burn in status.burn_by_window.items():
        if abs(window_seconds(text) - want) < 1e-6 * max(want, 1):
            return burn
    return math.nan


def evaluate_policy(policy: Policy, statuses: list[SLOStatus]) -> list[SLOBudget]:
    """Per SLO, every step's burn rate and whether it triggered (valid policy assumed). A
    step whose window is longer than the data the status covers (``span_s``) is not judged:
    a burn over a window that is mostly empty says nothing about the window."""
    out = []
    for st in statuses:
        results = []
        for step in policy.steps:
            burn = scaled_burn(st, step.window_s, policy.slo_period_s)
            window = step.window_s * _scale(st, policy.slo_period_s)
            reason = ""
            if st.span_s == st.span_s and st.span_s < window:
                reason = (f"the {format_duration(window)} window needs {format_duration(window)}"
                          f" of data, there is {format_duration(round(st.span_s))}")
            results.append(StepResult(step, burn, burn * step.window_s / policy.slo_period_s,
                                      window, reason))
        out.append(SLOBudget(st, results, policy.ok_action))
    return out


# -- rendering -----------------------------------------------------------------------------
def _pct(value: float, digits: int = 1) -> str:
    return "no data" if value != value else f"{value * 100:.{digits}f}%"


def _bar(used: float, width: int = 20) -> str:
    """How much of the budget is used: ``[####................]``."""
    if used != used:
        return ""
    full = round(max(0.0, min(1.0, used)) * width)
    return "[" + "#" * full + "." * (width - full) + "]"


def render(budgets: list[SLOBudget], policy: Policy) -> str:
    """A plain-text report for people who decide what ships."""
    period = format_duration(policy.slo_period_s)
    acting = [b for b in budgets if b.triggered]
    lines = [f"Error-budget policy report ({policy.source}, {len(policy.steps)} steps, "
             f"budgets over {period})",
             f"{len(acting)} of {len(budgets)} SLO(s) need action."
             + ("" if not acting else " Paging: "
                + (", ".join(b.status.slo_id for b in acting if b.alerting) or "none") + "."),
             ""]
    for b in budgets:
        st = b.status
        objective = "-" if st.objective != st.objective else f"{st.objective * 100:.6g}%"
        lines.append(f"{st.slo_id}: objective {objective} over {period}")
        if st.use is not None:
            days = st.period_days * 86400 if st.period_days == st.period_days else math.nan
            of = f"the {format_duration(days)} period's" if days == days else "the period's"
            lines.append(f"  budget consumed: {format_consumed(st.consumed)} of {of} budget "
                         f"over {format_duration(round(st.span_s))} of data "
                         f"({round(st.use.get('bad') or 0):,} of "
                         f"{round(st.use.get('total') or 0):,} events bad) {_bar(st.consumed)}"
                         .rstrip())
        burns = "  ".join(f"{r.step.window} {r.burn:.1f}x" if r.burn == r.burn and r.judged
                          else f"{r.step.window} -" for r in _unique_windows(b.results))
        lines.append(f"  burn rate by window: {burns}")
        for r in _unique_windows(b.unjudged):
            lines.append(f"  CANNOT JUDGE {r.step.window}: {r.unjudged}")
        for r in b.triggered:
            lines.append(f"  TRIGGERED {r.step.name}: {r.step.window} burn {r.burn:.1f}x >= "
                         f"{r.step.burn_rate_threshold:g}x ({_pct(r.budget_spent)} of the "
                         f"budget). {r.step.message_alert}")
        first, *rest = b.actions
        lines.append(f"  ACTION: {first}")
        lines.extend(f"  also:   {a}" for a in rest)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _unique_windows(results: list[StepResult]) -> list[StepResult]:
    seen, out = set(), []
    for r in sorted(results, key=lambda r: r.step.window_s):
        if r.step.window_s not in seen:
            seen.add(r.step.window_s)
            out.append(r)
    return out
