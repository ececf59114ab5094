"""The validated SLO model that rules and tests are generated from.

Built only by ``gameday.slo.validate``; everything here is assumed valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .names import alert_name as default_alert_name


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # one of = != =~ !~
    value: str


@dataclass(frozen=True)
class Selector:
    """A PromQL metric selector: ``name{label="value",...}``."""

    metric: str
    matchers: tuple[Matcher, ...] = ()

    def text(self) -> str:
        if not self.matchers:
            return self.metric
        inner = ",".join(f'{m.label}{m.op}"{_escape(m.value)}"' for m in self.matchers)
        return f"{self.metric}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class Indicator:
    """Ratio of events: ``bad`` (or ``good``) over ``total``, both counters."""

    total: Selector
    bad: Selector | None = None
    good: Selector | None = None


@dataclass(frozen=True)
class SLO:
    name: str
    service: str
    source: str  # file it came from
    description: str
    indicator: Indicator
    target: float  # 0 < target < 1
    period_s: float
    severities: tuple[str, ...] = ("page", "ticket")
    alert_name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    runbook_url: str = ""
    # Extra labels and annotations of the alert of one severity (page, ticket), from the
    # metadata of its AlertPolicy and AlertCondition (a Sloth import's alerting labels).
    alert_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    alert_annotations: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def error_budget(self) -> float:
        return round(1.0 - self.target, 12)

    @property
    def alert(self) -> str:
        return self.alert_name or default_alert_name(self.name)

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"


@dataclass(frozen=True)
class BurnAlert:
    """Fire when the error ratio exceeds ``factor`` x budget over both windows."""

    severity: str
    budget_fraction: float
    long_s: float
    short_s: float
    factor: float


@dataclass(frozen=True)
class Catalog:
    name: str
    source: str
    slo_period_s: float  # SLO period this catalog applies to (30d)
    period_s: float  # the period the rules use (30d, or 12h for drills)
    alerts: tuple[BurnAlert, ...]

    @property
    def scale(self) -> float:
        return self.period_s / self.slo_period_s

    def windows(self) -> list[float]:
        """Every alert window, shortest first."""
        return sorted({w for a in self.alerts for w in (a.short_s, a.long_s)})
