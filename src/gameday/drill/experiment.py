"""The scenario's experiment, run by plain ``chaos run`` in its own process.

The drill gives it the run (``GAMEDAY_RUN``), a control file that records its activities in
the timeline (unless the experiment declares gameday's control itself), a journal path in
``<run>/chaos/``, and values for the experiment's configuration: ``fault_hold_s`` (how long
the method holds the fault: until the drill ends), ``fault_ttl`` and ``load_duration``
(the faults' safety net), so the fault lasts until the responder has dealt with it.
Stopping it sends SIGINT first (Chaos Toolkit interrupts and runs the
rollbacks), then SIGKILL to its process group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from gameday.chaos.command import chaos_executable
from gameday.runfolder import RUN_ENV, Run
from gameday.stack.process import _die_with_parent

CONTROL_MODULE = "gameday.chaos.controls"


def declares_gameday_control(experiment: dict) -> bool:
    return any((c.get("provider") or {}).get("module") == CONTROL_MODULE
               for c in experiment.get("controls") or [] if isinstance(c, dict))


class ExperimentProcess:
    def __init__(self, experiment_path: Path, experiment: dict, run_path: Path,
                 variables: dict | None = None) -> None:
        self.experiment_path = Path(experiment_path)
        self.experiment = experiment
        self.run_path = Path(run_path)
        self.run = Run(self.run_path)
        self.out = self.run.chaos_dir
        self.journal = self.run.chaos_journal(self.experiment_path.stem)
        self.log = self.run.chaos_log(self.experiment_path.stem)
        self.proc: subprocess.Popen | None = None
        self.started_at: float | None = None
        self.variables = variables or {}

    def command(self) -> list[str]:
        argv = [chaos_executable(), "--log-file", str(self.log), "run",
                "--journal-path", str(self.journal), "--rollback-strategy", "always"]
        known = (self.experiment.get("configuration") or {})
        for name, value in self.variables.items():
            if name in known:  # only what the experiment declares in its configuration
                kind = "int" if isinstance(value, int) else "str"
                argv += ["--var", f"{name}:{kind}={value}"]
        if not declares_gameday_control(self.experiment):
            control = self.run.chaos_controls
            control.write_text(json.dumps({"gameday": {"provider": {
                "type": "python", "module": CONTROL_MODULE}}}))
            argv += ["--control-file", str(control)]
        return argv + [str(self.experiment_path.resolve())]

    def start(self) -> ExperimentProcess:
        self.out.mkdir(parents=True, exist_ok=True)
        self.journal.unlink(missing_ok=True)
        env = {**os.environ, RUN_ENV: str(self.run_path)}
        # Should the drill die (even SIGKILL), chaos gets SIGINT: it runs its rollbacks and
        # ends; what it injected expires by its TTL in any case.
        with open(self.run.chaos_stdout, "ab") as out:
            self.proc = subprocess.Popen(self.command(), env=env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True,
                                         preexec_fn=_die_with_parent(os.getpid(),
                                                                     signal.SIGINT))
        self.started_at = time.time()
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 6.0) -> int | None:
        """Interrupt (rollbacks run), then kill; returns the exit code."""
        if self.proc is None:
            return None
        for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGKILL, 3.0)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                pass
        return self.proc.poll()

    def outcome(self) -> dict:
        """The journal's verdict (gameday.chaos.journal), or why there is none."""
        if not self.journal.exists():
            return {"ok": False, "status": "no journal", "reasons": [
                f"chaos run left no journal; see {self.log}"]}
        from gameday.chaos.journal import read_journal

        result = read_journal(self.journal)
        return {"ok": result.ok, "status": getattr(result, "status", None),
                "reasons": list(getattr(result, "reasons", []) or []),
                "verdict": result.verdict()}
