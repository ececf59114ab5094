import os
import shutil

import pytest

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
