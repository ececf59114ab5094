"""Labels and annotations an SLO's alerts carry beyond the generated ones.

They come from the metadata of the AlertPolicy (both severities) and AlertCondition (its
severity) an SLO alerts with; ``gameday slo import-sloth`` writes Sloth's ``alerting``,
``page_alert`` and ``ticket_alert`` labels and annotations there.
"""

from __future__ import annotations

import re

from gameday.errors import ValidationError

from .names import LABEL_SEVERITY, LABEL_WINDOW, SLO_LABELS

# Labels the generated rules set themselves; an alert label of the same name would hide them.
RESERVED_LABELS = (*SLO_LABELS, LABEL_SEVERITY, LABEL_WINDOW)
_PROM_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def alert_metadata(meta: object, where: str) -> tuple[dict[str, str], dict[str, str]]:
    """Alert labels and annotations of an AlertPolicy's or AlertCondition's metadata."""
    if not isinstance(meta, dict):
        raise ValidationError(f"{where}: metadata must be a mapping, got {meta!r}")
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations = {k: v for k, v in annotations.items()
                       if not (isinstance(k, str) and "/" in k)}
    return (validate_alert_map(meta.get("labels"), f"{where}: metadata.labels", labels=True),
            validate_alert_map(annotations, f"{where}: metadata.annotations", labels=False))


def validate_alert_map(raw: object, where: str, *, labels: bool) -> dict[str, str]:
    """Names (Prometheus label names, none the generated rules set) to string values."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationError(f"{where} must map names to strings, got {raw!r}")
    for key, value in raw.items():
        if not isinstance(key, str) or not _PROM_NAME.fullmatch(key) or key.startswith("__"):
            raise ValidationError(f"{where}: {key!r} is not a Prometheus "
                                  f"{'label' if labels else 'annotation'} name "
                                  f"(letters, digits and '_', not starting with a digit or '__')")
        if labels and key in RESERVED_LABELS:
            raise ValidationError(f"{where}.{key}: is set by the generated rules; "
                                  f"use another label name")
        if not isinstance(value, str):
            raise ValidationError(f"{where}.{key} must be a string, got {value!r}")
    return dict(raw)


def merge_alert_map(into: dict[str, str], more: dict[str, str], where: str,
                    severity: str) -> None:
    """Add ``more`` to what the ``severity`` alert carries; two values for a name clash."""
    for key, value in more.items():
        if into.get(key, value) != value:
            raise ValidationError(f"{where} {key!r} of the {severity} alert is {value!r} here "
                                  f"but {into[key]!r} in an earlier alert policy or condition")
        into[key] = value
