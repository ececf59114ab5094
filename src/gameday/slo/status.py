"""Where each SLO stands now, read from the generated recording rules of either engine.

Everything comes from Sloth-named series (``slo:objective:ratio``,
``slo:sli_error:ratio_rate<w>``, ``slo:current_burn_rate:ratio``,
``slo:period_error_budget_remaining:ratio``, ``slo:time_period:days``) and the alerts the
engine holds, so the embedded evaluator and real Prometheus answer the same way.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

from gameday.engine.embedded import Engine

_WINDOW = re.compile(r"^slo:sli_error:ratio_rate(.+)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def window_seconds(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|[smhdwy])", text):
        total += float(number) * _UNITS[unit]
    return total


@dataclass
class SLOStatus:
    slo_id: str
    service: str
    slo: str
    objective: float = math.nan
    sli: float = math.nan  # good ratio over the shortest window
    budget_remaining: float = math.nan  # fraction of the period's error budget left
    current_burn: float = math.nan
    period_days: float = math.nan
    burn_by_window: dict[str, float] = field(default_factory=dict)
    alerts: dict[str, str] = field(default_factory=dict)  # severity -> pending/firing
    # budget consumed over the data span (gameday.slo.consumption.BudgetUse.as_dict()):
    # the figure every surface shows; budget_remaining above is the period rule's estimate
    use: dict | None = None

    @property
    def state(self) -> str:
        """page / ticket (firing), pending, or ok."""
        for severity in ("page", "ticket"):
            if self.alerts.get(severity) == "firing":
                return severity
        return "pending" if self.alerts else "ok"

    @property
    def exhaustion_s(self) -> float:
        """Seconds until the period's budget is gone at the current burn rate (inf if never)."""
        if not self.current_burn > 0 or math.isnan(self.budget_remaining):
            return math.inf
        if self.budget_remaining <= 0:
            return 0.0
        return self.budget_remaining * self.period_days * 86400 / self.current_burn

    @property
    def consumed(self) -> float:
        value = (self.use or {}).get("consumed")
        return float(value) if isinstance(value, int | float) else math.nan

    @property
    def span_s(self) -> float:
        value = (self.use or {}).get("span_s")
        return float(value) if isinstance(value, int | float) else math.nan

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(state=self.state, exhaustion_s=self.exhaustion_s)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in data.items()}


def _by_id(engine: Engine, expr: str, at: float | None) -> dict[str, float]:
    return {labels.get("sloth_id", ""): value for labels, value in engine.query(expr, at)}


def collect_status(engine: Engine, at: float | None = None) -> list[SLOStatus]:
    """The status of every SLO the engine has rules for, sorted by id."""
    statuses: dict[str, SLOStatus] = {}
    for labels, _ in engine.query("sloth_slo_info", at):
        sid = labels.get("sloth_id", "")
        statuses[sid] = SLOStatus(sid, labels.get("sloth_service", ""),
                                  labels.get("sloth_slo", ""))
    for attr, expr in (("objective", "slo:objective:ratio"),
                       ("budget_remaining", "slo:period_error_budget_remaining:ratio"),
                       ("current_burn", "slo:current_burn_rate:ratio"),
                       ("period_days", "slo:time_period:days")):
        for sid, value in _by_id(engine, expr, at).items():
            if sid in statuses:
                setattr(statuses[sid], attr, value)
    windows: dict[str, dict[str, float]] = {}
    for labels, value in engine.query('{__name__=~"slo:sli_error:ratio_rate.+"}', at):
        match = _WINDOW.match(labels.get("__name__", ""))
        if match and labels.get("sloth_id") in statuses:
            windows.setdefault(labels["sloth_id"], {})[match.group(1)] = value
    for sid, ratios in windows.items():
        st = statuses[sid]
        budget = 1 - st.objective
        ordered = sorted(ratios, key=window_seconds)
        st.burn_by_window = {w: ratios[w] / budget if budget > 0 else math.nan for w in ordered}
        st.sli = 1 - ratios[ordered[0]]
    for alert in engine.alerts():
        labels = alert["labels"]
        sid = labels.get("sloth_id")
        if sid in statuses and alert["state"] in ("pending", "firing"):
            severity = labels.get("sloth_severity", "page")
            if statuses[sid].alerts.get(severity) != "firing":
                statuses[sid].alerts[severity] = alert["state"]
    return [statuses[k] for k in sorted(statuses)]


def attach_use(statuses: list[SLOStatus], uses: dict) -> list[SLOStatus]:
    """Put each SLO's ``BudgetUse`` on its status (``use``); returns ``statuses``."""
    for st in statuses:
        use = uses.get(st.slo_id)
        if use is not None:
            st.use = use.as_dict()
    return statuses


def from_json(raw: dict) -> SLOStatus:
    """An SLOStatus back from ``as_dict()`` (slo-status.json)."""
    fields = {k: (math.nan if v is None else v) for k, v in raw.items()
              if k not in ("state", "exhaustion_s")}
    if fields.get("use") is math.nan:
        fields["use"] = None
    return SLOStatus(**fields)
