"""Each service's settings, checked by the service's own schema before any process starts.

``--set gateway.retry.max_attempts=abc`` used to start a stack whose gateway then exited at
once, restart-looping until the 30 s readiness deadline, with a run folder left behind.
Here the values go through ``gameday_services.<name>.settings.Settings`` read from an environment
that holds only them, as the service would read it; a bad value is a ValidationError
naming ``--set <service>.<field>``, the value and pydantic's reason. The service also reads
its prefixed variables from the user's environment (``GATEWAY_RETRY__MAX_ATTEMPTS=abc`` left in
a shell), so those are checked with the ``--set`` values (which win), and a bad one is named
as the environment variable it is. Checks a service makes only at start are made here too
(``features.db_path`` must be a feature store gameday made).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from pydantic import ValidationError as PydanticValidationError

from gameday.errors import ValidationError

if TYPE_CHECKING:  # spec.py calls this module from build_spec
    from gameday.stack.spec import ServiceSpec, StackSpec


def _settings_class(svc: ServiceSpec):
    """gameday_services.<name>.settings.Settings of a service the stack runs as ``python -m
    gameday_services.<name>``; None for a service with its own command (a test's stand-in)."""
    if svc.command:
        return None
    import importlib

    try:
        module = importlib.import_module(f"gameday_services.{svc.name}.settings")
    except ImportError:
        return None
    return getattr(module, "Settings", None)


def _checked_settings(cls, env: dict[str, str]):
    """An instance of the pydantic-settings class ``cls`` read from ``env`` alone, exactly as
    the service reads its environment (prefix, ``__`` nesting, JSON sections)."""
    from pydantic_settings import EnvSettingsSource

    class _Env(EnvSettingsSource):
        def _load_env_vars(self):  # the one hook that reads os.environ
            return dict(env) if self.case_sensitive else {k.lower(): v for k, v in env.items()}

    class Checked(cls):
        @classmethod
        def settings_customise_sources(cls_, settings_cls, **sources):
            return (_Env(settings_cls),)

    return Checked()


def _set_value(svc: ServiceSpec, loc: tuple) -> tuple[str, str | None]:
    """``--set`` name and value of a pydantic error location of ``svc``'s settings."""
    parts = [str(x) for x in loc]
    for n in range(len(parts), 0, -1):
        key = "__".join(parts[:n])
        if key in svc.settings:
            return f"{svc.name}.{'.'.join(parts)}", svc.settings[key]
    return f"{svc.name}.{'.'.join(parts)}", None


# variables the stack sets itself for every replica (plan._service_env): never the user's
PLANNED = ("HOST", "PORT", "REPLICA")


def _user_env(prefix: str) -> dict[str, str]:
    """The service's prefixed variables in the user's environment, as it would inherit
    them (the stack's own per-replica variables left out)."""
    planned = {prefix + name for name in PLANNED}
    return {k: v for k, v in os.environ.items()
            if k.upper().startswith(prefix.upper()) and k.upper() not in planned}


def _env_value(env: dict[str, str], prefix: str, loc: tuple) -> tuple[str, str] | None:
    """The user's environment variable behind a pydantic error location, if one is."""
    parts = [str(x) for x in loc]
    upper = {k.upper(): k for k in env}
    for n in range(len(parts), 0, -1):
        key = upper.get(f"{prefix}{'__'.join(parts[:n])}".upper())
        if key is not None:
            return key, env[key]
    return None


def validate_service_settings(spec: StackSpec) -> None:
    """Each service's ``--set`` values through that service's own Settings class, and the
    checks a service would only make at start (features.db_path must be a feature store
    gameday made): a bad value is refused here, before any process or run folder exists."""
    import math

    from pydantic_settings import SettingsError

    from gameday.userfiles import shorten

    for svc in spec.services:
        cls = _settings_class(svc)
        if cls is None:
            continue
        prefix = cls.model_config.get("env_prefix") or svc.env_prefix
        sets = {f"{prefix}{k.upper()}": v for k, v in svc.settings.items()}
        inherited = {k: v for k, v in _user_env(prefix).items()
                     if k.upper() not in {s.upper() for s in sets}}
        if not sets and not inherited:
            continue
        try:
            settings = _checked_settings(cls, {**inherited, **sets})
        except PydanticValidationError as err:
            e = err.errors()[0]
            name, value = _set_value(svc, e["loc"])
            from_env = _env_value(inherited, prefix, e["loc"]) if value is None else None
            if from_env is not None:
                raise ValidationError(
                    f"environment variable {from_env[0]}: {e['msg']}, got "
                    f"{shorten(repr(from_env[1]), 60)} (the {svc.name} service would read "
                    f"it; unset it or give --set {name}=...)") from None
            shown = e.get("input") if value is None else value
            raise ValidationError(f"--set {name}: {e['msg']}, got "
                                  f"{shorten(repr(shown), 60)}") from None
        except SettingsError as err:  # a section given as JSON that does not parse
            found = re.search(r'field "(\w+)"', str(err))
            field = found.group(1) if found else "?"
            raise ValidationError(f"--set {svc.name}.{field}: not a JSON object for the "
                                  f"whole section, got "
                                  f"{shorten(repr(svc.settings.get(field, '')), 60)}") \
                from None
        for key, value in svc.settings.items():
            got = settings
            for part in key.split("__"):
                got = getattr(got, part, None)
            if isinstance(got, float) and not math.isfinite(got):
                raise ValidationError(f"--set {svc.name}.{key.replace('__', '.')}: must be "
                                      f"a finite number, got {shorten(repr(value), 60)}")
        check = SERVICE_CHECKS.get(svc.name)
        if check is not None:
            check(settings)


def _check_features(settings) -> None:
    """features.db_path is deleted and recreated at start: only if it is ours (or db_force)."""
    if not getattr(settings, "db_path", None):
        return
    from gameday_services.features.store import check_db_path

    try:
        check_db_path(settings.db_path, bool(getattr(settings, "db_force", False)))
    except ValidationError as err:
        raise ValidationError(f"--set {err}") from None


SERVICE_CHECKS = {"features": _check_features}
