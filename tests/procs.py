"""Real service processes on loopback for tests: free ports, start, wait until ready, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

# a free port below the ephemeral range, so no outgoing connection of a parallel test
# takes it before the server binds: the stack's own pick
from gameday.stack.plan import free_port  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
TEST_TOKEN = "test-admin-token-0123456789"


def wait_until(check, timeout: float, what: str, every: float = 0.5):
    """``check()``'s first truthy answer, asked every ``every`` s; an AssertionError naming
    ``what`` after ``timeout`` s. A check that raises OSError or ValueError (a file half
    written, a server not up yet) counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except (OSError, ValueError):
            found = None
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")


def auth(token: str = TEST_TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


class ServiceProcess:
    """``python -m gameday_services.<name>`` on a free port, with the test admin token.

    ``env`` adds settings (for example ``{"CLASSIFIER_LOAD_TIME_S": "0.2"}``).
    """

    def __init__(self, name: str, env: dict | None = None, port: int | None = None,
                 log_dir: Path | None = None, ready_timeout: float = 20.0) -> None:
        self.name = name
        self.port = port or free_port()
        self.env = {**os.environ, f"{name.upper()}_PORT": str(self.port),
                    "GAMEDAY_ADMIN_TOKEN": TEST_TOKEN, **(env or {})}
        self.log_dir = log_dir
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True) -> ServiceProcess:
        out = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_path = self.log_dir / f"{self.name}-{self.port}.log"
            out = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([sys.executable, "-m", f"gameday_services.{self.name}"],
                                     env=self.env, cwd=ROOT, stdout=out, stderr=out)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, path: str = "/readyz") -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}"
                                   f" (log: {self.log_path})")
            try:
                if httpx.get(self.url + path, timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready on {self.url} after {self.ready_timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> ServiceProcess:
        if self.proc is None:
            return self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_own_app(stderr=subprocess.DEVNULL, timeout: float = 15.0):
    """examples/own_app.py under uvicorn on a free port; returns (process, url) once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.own_app:app", "--port", str(port),
         "--host", "127.0.0.1"],
        cwd=ROOT, env={**os.environ, "GAMEDAY_ADMIN_TOKEN": TEST_TOKEN},
        stdout=subprocess.DEVNULL, stderr=stderr,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise TimeoutError(f"examples/own_app.py did not answer on {url} in {timeout:g} s")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


QUICK_ENV = {"CLASSIFIER_LOAD_TIME_S": "0", "FEATURES_LOAD_TIME_S": "0",
             "FEATURES_ENTITIES": "20"}


def start_services(names, folder: Path, env: dict | None = None) -> dict[str, ServiceProcess]:
    """Start these services at once (quick start, a fresh feature store in ``folder``) and
    wait until each answers /healthz; stops them all again if one fails to start."""
    env = {**QUICK_ENV, "FEATURES_DB_PATH": str(folder / "f.sqlite3"), **(env or {})}
    procs = {name: ServiceProcess(name, env=env, log_dir=folder) for name in names}
    try:
        for proc in procs.values():
            proc.start(wait_ready=False)
        for proc in procs.values():
            proc.wait_ready("/healthz")
    except BaseException:
        stop_services(procs)
        raise
    return procs


def stop_services(procs: dict[str, ServiceProcess]) -> None:
    for proc in procs.values():
        proc.stop()
