"""discover() lists every public action and probe; each follows the extension's style."""

import inspect

import pytest

from gameday.chaos import actions, discover, probes


def test_discover_lists_every_function_in_all():
    found = discover(discover_system=False)
    assert found["extension"]["name"] == "gameday"
    names = {(a["type"], a["name"], a["mod"]) for a in found["activities"]}
    expected = {("action", n, "gameday.chaos.actions") for n in actions.__all__}
    expected |= {("probe", n, "gameday.chaos.probes") for n in probes.__all__}
    assert names == expected
    assert {"inject_fault", "clear_faults", "scale_service", "start_load"} <= set(actions.__all__)
    assert {"error_ratio", "latency_quantile", "ttft_quantile", "slo_burn_rate",
            "error_budget_remaining", "alert_firing", "service_ready",
            "model_quality"} <= set(probes.__all__)


@pytest.mark.parametrize("func", [getattr(actions, n) for n in actions.__all__]
                         + [getattr(probes, n) for n in probes.__all__],
                         ids=lambda f: f.__name__)
def test_signature_ends_with_run_configuration_secrets(func):
    params = list(inspect.signature(func).parameters.values())
    assert [p.name for p in params[-3:]] == ["run", "configuration", "secrets"]
    assert all(p.default is None for p in params[-3:])
    assert func.__doc__


def test_scale_service_without_the_stack_module_fails_clearly(monkeypatch):
    import sys

    from chaoslib.exceptions import ActivityFailed

    monkeypatch.setitem(sys.modules, "gameday.stack.scale", None)
    with pytest.raises(ActivityFailed, match="scale_service: this gameday has no "
                                             "gameday.stack.scale yet"):
        actions.scale_service(service="classifier", replicas=3)
