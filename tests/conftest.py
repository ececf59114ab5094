import os
import shutil

import pytest
from hypothesis import settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(name: str) -> str:
    """Path of an external binary; skip on a laptop without it, fail under CI."""
    path = shutil.which(name)
    if path is None:
        message = f"needs the '{name}' binary on PATH (Debian package providing it)"
        if IN_CI:
            pytest.fail(message + "; CI must install it")
        pytest.skip(message)
    return path


# Property tests draw the same examples on every run, so CI and laptops agree; widen the
# search locally with --hypothesis-seed=N or HYPOTHESIS_PROFILE=explore.
settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# `make test` runs two workers (pytest-xdist, --dist loadgroup). Tests that start stacks run
# in two lanes, one per worker, so that at most two stacks share the machine's two cores:
# lane "a" holds the long quiet-period SLO test and the integration tests, lane "b" the
# drills and the other end-to-end tests (balanced on the times of
# --durations=0); unit tests fill in on either worker.
LANE_A_E2E = ("test_slo_live.py",)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        path = str(item.fspath)
        if "/integration/" in path or path.endswith(LANE_A_E2E):
            item.add_marker(pytest.mark.xdist_group("lane-a"))
        elif "/e2e/" in path:
            item.add_marker(pytest.mark.xdist_group("lane-b"))
