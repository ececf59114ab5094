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
