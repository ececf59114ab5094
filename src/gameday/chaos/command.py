"""The ``chaos`` command line of Chaos Toolkit, as gameday runs it in its own process.

Used by ``gameday chaos run`` and by a drill's experiment (gameday.drill.experiment).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from gameday.errors import NotFoundError

__all__ = ["chaos_command", "chaos_executable"]


def chaos_executable() -> str:
    """The ``chaos`` next to this Python (the virtualenv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("chaos")
    if beside.exists():
        return str(beside)
    found = shutil.which("chaos")
    if found is None:
        raise NotFoundError("no 'chaos' command: install chaostoolkit in this environment")
    return found


def chaos_command(experiment: Path, journal: Path, log_file: Path,
                  extra: list[str] | None = None) -> list[str]:
    """``chaos --log-file LOG run --journal-path JOURNAL [extra...] EXPERIMENT``."""
    return [chaos_executable(), "--log-file", str(log_file), "run", "--journal-path",
            str(journal), *(extra or []), str(experiment)]
