"""Alertmanager webhook payloads: parsing them into notices, and a tiny loopback receiver.

``parse_webhook`` knows nothing about HTTP, so the drill controller can mount it in its own
API; ``WebhookReceiver`` is a standalone ``POST /alerts`` endpoint for tests and tools, on a
bounded ``gameday.listener.Listener`` (bodies over 4 MiB answer 413 unread).
Alertmanager posts payload version 4: ``status``, ``receiver``, ``groupLabels``, ... and
``alerts``, each with ``status`` (firing or resolved), ``labels``, ``annotations``,
``startsAt``, ``endsAt`` (Go's zero time while unknown), ``fingerprint`` and ``generatorURL``.

Text that is not valid Unicode (a lone surrogate, from a ``"\\ud800"`` escape) is replaced by
U+FFFD rather than refused: one bad label must not cost a whole batch of pages, and
Alertmanager would only retry the same payload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from gameday.errors import ValidationError
from gameday.listener import HandlerApp, Limits, Listener, Reply, Request, short
from gameday.text import clean_json

STATUSES = ("firing", "resolved")
MAX_BODY = 4 * 1024 * 1024
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?"
                      r"(Z|z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class AlertNotice:
    alertname: str
    status: str  # firing | resolved
    severity: str | None = None  # sloth_severity, else severity
    slo_id: str | None = None  # sloth_id
    service: str | None = None  # sloth_service
    runbook_url: str | None = None
    summary: str | None = None
    description: str | None = None
    starts_at: float | None = None  # unix seconds
    ends_at: float | None = None  # None for Go's zero time
    fingerprint: str | None = None
    generator_url: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        return self.status == "firing"


def parse_time(value, where: str) -> float | None:
    """RFC 3339 (nanoseconds allowed) to unix seconds; None for Go's zero time or empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{where}: expected an RFC 3339 time string, got {value!r}")
    m = _RFC3339.match(value)
    if m is None:
        raise ValidationError(f"{where}: not an RFC 3339 time: {value!r}")
    day, clock, frac, zone = m.groups()
    if day.startswith("0001-01-01"):
        return None  # Go's time.Time{}: "not set"
    try:
        base = datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        raise ValidationError(f"{where}: not a valid date and time: {value!r}") from None
    if zone in ("Z", "z"):
        tz = UTC
    else:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise ValidationError(f"{where}: not a valid UTC offset: {value!r}")
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        seconds = base.replace(tzinfo=tz).timestamp()
    except (ValueError, OverflowError):
        raise ValidationError(f"{where}: not a valid date and time: {value!r}") from None
    return seconds + (int(frac.ljust(9, "0")) / 1e9 if frac else 0.0)


def _str_map(value, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{where}: expected an object of strings, got {value!r}")
    for k, v in value.items():
        if not isinstance(v, str):
            raise ValidationError(f"{where}.{k}: expected a string, got {v!r}")
    return dict(value)


def _parse_alert(alert, where: str) -> AlertNotice:
    if not isinstance(alert, dict):
        raise ValidationError(f"{where}: expected an object, got {alert!r}")
    status = alert.get("status")
    if status not in STATUSES:
        raise ValidationError(f"{where}.status: must be firing or resolved, got {status!r}")
    labels = _str_map(alert.get("labels"), f"{where}.labels")
    annotations = _str_map(alert.get("annotations"), f"{where}.annotations")
    alertname = labels.get("alertname")
    if not alertname:
        raise ValidationError(f"{where}.labels.alertname: missing or empty, got labels "
                              f"{labels!r}")
    fingerprint = alert.get("fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise ValidationError(f"{where}.fingerprint: expected a string, got {fingerprint!r}")
    generator = alert.get("generatorURL")
    return AlertNotice(
        alertname=alertname,
        status=status,
        severity=labels.get("sloth_severity") or labels.get("severity"),
        slo_id=labels.get("sloth_id"),
        service=labels.get("sloth_service"),
        runbook_url=annotations.get("runbook_url") or annotations.get("runbook"),
        summary=annotations.get("summary") or annotations.get("title"),
        description=annotations.get("description"),
        starts_at=parse_time(alert.get("startsAt"), f"{where}.startsAt"),
        ends_at=parse_time(alert.get("endsAt"), f"{where}.endsAt"),
        fingerprint=fingerprint or None,
        generator_url=generator if isinstance(generator, str) and generator else None,
        labels=labels,
        annotations=annotations,
    )


def parse_webhook(body) -> list[AlertNotice]:
    """The notices in one Alertmanager webhook payload (version 4); ValidationError names
    the bad field and value."""
    if not isinstance(body, dict):
        raise ValidationError(f"webhook payload: expected a JSON object, got {body!r:.200}")
    version = body.get("version")
    if version is not None and str(version) != "4":
        raise ValidationError(f"webhook payload: version: only version 4 is understood, "
                              f"got {version!r}")
    status = body.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationError(f"webhook payload: status: must be firing or resolved, "
                              f"got {status!r}")
    alerts = clean_json(body.get("alerts"))
    if not isinstance(alerts, list):
        raise ValidationError(f"webhook payload: alerts: expected a list, got {alerts!r:.200}")
    return [_parse_alert(a, f"webhook payload: alerts[{i}]") for i, a in enumerate(alerts)]


def _error(status: int, message: str) -> dict:
    return {"error": message}


class _Routes:
    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver

    def __call__(self, request: Request) -> Reply:
        path = self.receiver.path
        if request.path != path:
            return Reply(404, _error(404, f"no such path {short(request.path, 100)!r}; "
                                          f"POST {path}"))
        if request.method != "POST":
            return Reply(405, _error(405, f"method {short(request.method, 20)} not allowed; "
                                          f"POST {path}"), headers=(("allow", "POST"),))
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, RecursionError) as err:  # JSONDecodeError, UnicodeDecodeError
            return Reply(400, _error(400, short(f"webhook payload: not JSON: {err}", 300)))
        try:
            notices = parse_webhook(body)
        except ValidationError as err:
            return Reply(400, _error(400, short(str(err), 1000)))
        try:
            self.receiver.callback(notices)
        except Exception as err:  # noqa: BLE001 - tell the sender, which retries
            return Reply(500, _error(500, short(f"callback failed: {type(err).__name__}: "
                                                f"{err}")))
        return Reply(200, {"received": len(notices)})


class WebhookReceiver:
    """``POST <path>`` on loopback; ``callback`` gets each payload's notices (it runs on
    one of the listener's threads; an exception there answers 500 and Alertmanager
    retries). Served by a ``gameday.listener.Listener``: bodies over ``MAX_BODY`` answer 413
    unread, slow or idle clients are cut off."""

    def __init__(self, callback: Callable[[list[AlertNotice]], None], port: int = 0,
                 host: str = "127.0.0.1", path: str = "/alerts") -> None:
        self.callback = callback
        self.host = host
        self.port = port
        self.path = path
        self._listener: Listener | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> WebhookReceiver:
        listener = Listener(HandlerApp(_Routes(self), name="webhook-receiver"),
                            host=self.host, port=self.port, limits=Limits(max_body=MAX_BODY),
                            error_body=_error, name="webhook-receiver")
        self.port = listener.port
        self._listener = listener.start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
