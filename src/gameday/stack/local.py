"""The local stack as a Python object: start, use and stop it from tests and other code.

::

    from gameday.stack import Stack, build_spec

    with Stack(build_spec(free_ports=True)) as stack:   # returns once every process is ready
        stack.url("gateway")                            # http://127.0.0.1:PORT
        stack.kill("classifier", 1)                     # the supervisor restarts it
        stack.wait_ready("classifier", 1)

The supervisor runs in a dedicated thread of this process; every child is spawned from that
thread, which lives until ``stop()``, so the children die with this process even on SIGKILL.
"""

from __future__ import annotations

import atexit
import signal
import threading
import time
from pathlib import Path

from gameday.errors import StackError
from gameday.runfolder import Run
from gameday.stack import control
from gameday.stack.registry import Kind, forget_run, register_stack
from gameday.stack.spec import StackSpec, default_spec, validate_spec
from gameday.stack.state import ProcessState, StackState
from gameday.stack.supervisor import Supervisor


class Stack:
    def __init__(self, spec: StackSpec | None = None, home: Path | None = None,
                 kind: Kind = "process") -> None:
        self.spec = spec or default_spec()
        self.home = home
        self.kind = kind  # how the stack registry (and so 'gameday down') names it
        self.run: Run | None = None
        self.supervisor: Supervisor | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, wait: bool = True) -> Stack:
        """Register a run folder and start the supervisor; with ``wait``, return when ready.

        Raises ValidationError naming the live stack that holds a wanted port, StackError
        naming the process that did not get ready, and its log.
        """
        if self._thread is not None:
            raise StackError("stack already started")
        validate_spec(self.spec)
        self.run = register_stack(self.spec, self.kind, self.home)
        self.supervisor = Supervisor(self.spec, self.run)
        self._thread = threading.Thread(target=self.supervisor.run, name="gameday-supervisor",
                                        daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        if wait:
            self.wait_started()
        return self

    def wait_started(self, timeout: float | None = None) -> StackState:
        timeout = timeout or self.spec.settings.ready_timeout_s + 10
        if not self.supervisor.settled.wait(timeout):
            raise StackError(f"run {self.run.id}: supervisor did not settle after {timeout:g} s")
        if self.supervisor.status != "running":
            error = self.supervisor.error or f"stack {self.supervisor.status}"
            self.stop()
            raise StackError(error)
        return self.state()

    def stop(self, timeout: float | None = None) -> StackState | None:
        """Stop every process (SIGTERM, SIGKILL after the grace period) and the supervisor."""
        if self.supervisor is None or self._thread is None:
            return None
        atexit.unregister(self.stop)
        self.supervisor.request_stop()
        self._thread.join(timeout or self.spec.settings.stop_grace_s + 10)
        if self._thread.is_alive():
            self.supervisor.request_stop(force=True)
            self._thread.join(5)
        forget_run(self.run)
        return self.supervisor.state

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- reads --------------------------------------------------------------------------
    def state(self) -> StackState:
        """The state as the supervisor last published it (same as ``<run>/stack.json``)."""
        return self.supervisor.state

    def process(self, name: str, replica: int = 0) -> ProcessState:
        return self.state().find(name, replica)

    def url(self, name: str, replica: int = 0) -> str:
        return self.process(name, replica).url

    def urls(self, name: str | None = None) -> dict[str, str]:
        return {p.id: p.url for p in self.state().processes if name in (None, p.name)}

    @property
    def token(self) -> str:
        return self.run.token()

    # -- actions ------------------------------------------------------------------------
    def signal(self, name: str, replica: int = 0, sig: int = signal.SIGTERM) -> int:
        return control.signal_process(name, replica, sig, run=self.run)

    def kill(self, name: str, replica: int = 0) -> int:
        return control.kill_process(name, replica, run=self.run)

    def pause(self, name: str, replica: int = 0) -> int:
        return control.pause_process(name, replica, run=self.run)

    def resume(self, name: str, replica: int = 0) -> int:
        return control.resume_process(name, replica, run=self.run)

    def restart(self, name: str, replica: int = 0, wait: bool = True,
                timeout: float = 30.0) -> ProcessState:
        before = self.process(name, replica)
        self.supervisor.request_restart(name, replica)
        if not wait:
            return before
        return self.wait_for(name, replica,
                             lambda p: p.restarts > before.restarts and p.state == "ready",
                             timeout, what="restarted and ready")

    def wait_ready(self, name: str, replica: int = 0, timeout: float = 30.0) -> ProcessState:
        return self.wait_for(name, replica, lambda p: p.state == "ready", timeout, "ready")

    def wait_for(self, name: str, replica: int, predicate, timeout: float = 30.0,
                 what: str = "in the expected state") -> ProcessState:
        deadline = time.monotonic() + timeout
        while True:
            proc = self.process(name, replica)
            if predicate(proc):
                return proc
            if not self.running:
                raise StackError(f"{proc.id}: the stack stopped before it was {what}")
            if time.monotonic() > deadline:
                raise StackError(f"{proc.id} not {what} after {timeout:g} s (state "
                                 f"{proc.state}, restarts {proc.restarts}); log: {proc.log}")
            time.sleep(0.05)
