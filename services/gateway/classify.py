"""Classify an entity: features from the store, a prediction from a classifier replica,
fallbacks when either fails."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from urllib.parse import quote

from gameday_services.gateway.calls import UpstreamFailure, request_json
from gameday_services.gateway.fallbacks import Prediction
from gameday_services.gateway.limiter import note_fallback
from gameday_services.gateway.lograte import LogRate
from gameday_services.gateway.policy import FEATURE_COUNT, Policy
from gameday_services.gateway.state import Gateway
from gameday_services.gateway.upstreams import Replica

log = logging.getLogger("services.gateway")
FALLBACK_LOGS = LogRate()  # a line per kind a second (services/gateway/lograte.py)


class UnknownEntity(Exception):
    """The feature store does not know the entity: a client error."""


class InvalidRequest(Exception):
    """The classifier refused the request as invalid (422): the client's label, say."""

    def __init__(self, detail: object) -> None:
        self.detail = detail
        super().__init__(str(detail))


class Unavailable(Exception):
    """No answer and no fallback: the client gets a 5xx."""

    def __init__(self, failure: UpstreamFailure) -> None:
        self.failure = failure
        super().__init__(f"{failure.upstream} unavailable: {failure.describe()}")


def _valid_features(data: object) -> list[float] | None:
    if not isinstance(data, dict):
        return None
    values = data.get("features")
    if (not isinstance(values, list) or len(values) != FEATURE_COUNT
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in values)):
        return None
    return [float(v) for v in values]


async def fetch_features(gw: Gateway, policy: Policy, entity_id: str,
                         headers: dict) -> tuple[list[float], bool]:
    """``(features, stale)`` from the store; raises UnknownEntity or UpstreamFailure."""
    upstream = gw.features
    timeouts = policy.timeouts

    async def send(replica: Replica) -> tuple[list[float], bool] | None:
        status, data = await request_json(
            upstream.json_client, "GET", f"{replica.url}/v1/features/{quote(entity_id, safe='')}",
            timeout_s=timeouts.features_s, connect_s=timeouts.connect_s, headers=headers,
            slots=upstream.slots)
        if status == 404:
            return None  # the store works; the entity does not exist
        if status != 200:
            raise UpstreamFailure("error", status=status, detail="unexpected answer",
                                  upstream_healthy=True)
        features = _valid_features(data)
        if features is None:
            raise UpstreamFailure("error", status=status, detail="malformed features")
        return features, bool(data.get("stale", False))

    found = await upstream.call(policy, send)
    if found is None:
        raise UnknownEntity(entity_id)
    return found


def _parse_prediction(data: object, replica: str) -> Prediction | None:
    try:
        first = data["predictions"][0]
        probabilities = first.get("probabilities")
        return Prediction(cls=int(first["class"]), label=str(first.get("label", first["class"])),
                          probabilities=[float(p) for p in probabilities]
                          if probabilities is not None else None,
                          model_version=str(data.get("version")) if data.get("version") else None,
                          replica=replica)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None


async def predict(gw: Gateway, policy: Policy, features: list[float], label: int | None,
                  headers: dict) -> Prediction:
    """A prediction from a classifier replica; raises UpstreamFailure."""
    upstream = gw.classifier
    body: dict = {"features": features}
    if label is not None:
        body["label"] = label

    async def send(replica: Replica) -> Prediction | InvalidRequest:
        status, data = await request_json(
            upstream.json_client, "POST", f"{replica.url}/v1/predict", json=body,
            timeout_s=policy.timeouts.classifier_s, connect_s=policy.timeouts.connect_s,
            headers=headers, slots=upstream.slots)
        if status == 422:  # returned, not raised: the replica works
            return InvalidRequest(data.get("detail", data) if isinstance(data, dict) else data)
        if status != 200:
            raise UpstreamFailure("error", status=status, detail="unexpected answer",
                                  upstream_healthy=True)
        prediction = _parse_prediction(data, replica.url)
        if prediction is None:
            raise UpstreamFailure("error", status=status, detail="malformed prediction")
        return prediction

    answer = await upstream.call(policy, send)
    if isinstance(answer, InvalidRequest):
        raise answer
    return answer


async def run_classify(gw: Gateway, entity_id: str, label: int | None,
                       headers: dict) -> tuple[Prediction, list[str]]:
    """The prediction for ``entity_id`` and the reasons it is degraded (empty when not)."""
    policy = gw.policy
    fallbacks = policy.fallbacks
    reasons: list[str] = []
    try:
        features, stale = await fetch_features(gw, policy, entity_id, headers)
        gw.fallbacks.features.observe(features)
        if stale:
            reasons.append("stale_features")
    except UpstreamFailure as failure:
        if not fallbacks.default_features:
            raise Unavailable(failure) from None
        features = gw.fallbacks.features.vector(fallbacks)
        reasons.append("default_features")
        note_fallback()
        gw.metrics.fallbacks.labels("default_features").inc()
        if (skipped := FALLBACK_LOGS.take("default_features")) is not None:
            log.info("fallback: default features",
                     extra={"failure": failure.describe(), "not_logged": skipped})

    try:
        prediction = await predict(gw, policy, features, label, headers)
    except UpstreamFailure as failure:
        found = gw.fallbacks.answer_for(entity_id, fallbacks)
        if found is None:
            raise Unavailable(failure) from None
        prediction, kind = found
        prediction = replace(prediction, replica=None)
        note_fallback()
        gw.metrics.fallbacks.labels(kind).inc()
        if (skipped := FALLBACK_LOGS.take(kind)) is not None:
            log.info("fallback: %s", kind,
                     extra={"failure": failure.describe(), "not_logged": skipped})
        return prediction, reasons + [kind]

    if not reasons and prediction.cls >= 0:  # -1: the model output NaN
        gw.fallbacks.remember(entity_id, prediction, fallbacks)
    return prediction, reasons
