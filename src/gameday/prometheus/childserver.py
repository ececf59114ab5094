"""A server binary run as a child process on loopback (Prometheus, Alertmanager).

What both share: a working folder in the run, a log file the child appends to, its own
session (so signals to the caller's group do not reach it), an optional ``preexec_fn``
(the supervisor's makes the child die with it), and a stop that terminates, then kills.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


class ChildServer:
    name = "server"  # names the log file: <workdir>/<name>.log

    def __init__(self, workdir: Path, port: int, host: str = "127.0.0.1",
                 preexec_fn=None) -> None:
        self.workdir = Path(workdir)
        self.port = port
        self.host = host
        self.preexec_fn = preexec_fn
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def spawn(self, argv: list[str]) -> None:
        """Start ``argv`` without waiting; output appended to the log."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=self.preexec_fn)

    def exited(self) -> int | None:
        """The exit code when the process has ended, else None."""
        return None if self.proc is None else self.proc.poll()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
