"""A server binary run as a child process on loopback (Prometheus, Alertmanager).

What both share: a working folder in the run, a log file the child appends to, its own
session (so signals to the caller's group do not reach it), an optional ``preexec_fn``
(the supervisor's makes the child die with it), a readiness wait on ``/-/ready`` that
notices a child which exited (a busy port, a bad flag) instead of waiting out the timeout,
and a stop that terminates, then kills. Subclasses say how to ``launch``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from gameday.errors import StackError


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

    def launch(self) -> None:
        """Write the config and start the process without waiting for it."""
        raise NotImplementedError

    def start(self, timeout_s: float = 30.0):
        """Launch and wait until ready; returns what ``wait_ready`` returns."""
        self.launch()
        return self.wait_ready(timeout_s)

    def ready(self) -> bool:
        """The child answers 200 on ``/-/ready`` (Prometheus and Alertmanager both do)."""
        import httpx

        try:
            return httpx.get(self.url + "/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout_s: float = 30.0):
        """Poll until ready. A child that exits first, or the timeout, stops it and raises
        StackError pointing at its log."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready():
                return None
            code = self.exited()
            if code is not None:
                raise StackError(f"{self.name} exited with code {code} before getting "
                                 f"ready on {self.url}; see {self.log_path}")
            time.sleep(0.1)
        self.stop()
        raise StackError(f"{self.name} did not get ready on {self.url} after "
                         f"{timeout_s:g} s; see {self.log_path}")

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
