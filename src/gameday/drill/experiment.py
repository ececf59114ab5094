"""The scenario's experiment, run by plain ``chaos run`` in its own process.

The drill gives it the run (``GAMEDAY_RUN``), a control file that records its activities in
the timeline (unless the experiment declares gameday's control itself), a journal path in
``<run>/chaos/``, and values for the experiment's configuration: ``fault_hold_s`` (how long
the method holds the fault: until the drill ends), ``fault_ttl`` and ``load_duration``
(the faults' safety net), so the fault lasts until the responder has dealt with it.
Stopping it sends SIGINT first (Chaos Toolkit interrupts and runs the
rollbacks), then SIGKILL to its process group.

The files are named after no scenario (``chaos/experiment-journal.json``). In a wheel
(``sealed``) the whole chaos side is sealed until the drill ends: its files go to
``.gameday/sealed/<run-id>/`` instead of ``<run>/chaos/`` (chaoslib's log and output name
the experiment), and ``GAMEDAY_SEALED`` sends every timeline event of the chaos process
(experiment, activities, faults: who=chaos) to that folder's ``timeline.jsonl``.
``reveal()`` at the end appends those events to the run's timeline (readers sort by
``ts``) and moves the files into ``<run>/chaos/``, so the report and the postmortem get
every fact; until then responders see the symptoms only (docs/timeline.md).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from gameday.chaos.command import chaos_executable
from gameday.runfolder import RUN_ENV, SEALED_ENV, Run, sealed_dir
from gameday.stack.process import _die_with_parent

log = logging.getLogger("gameday.drill")
CONTROL_MODULE = "gameday.chaos.controls"
NEUTRAL_NAME = "experiment"  # what a drill's chaos files are named after, never the scenario


def declares_gameday_control(experiment: dict) -> bool:
    return any((c.get("provider") or {}).get("module") == CONTROL_MODULE
               for c in experiment.get("controls") or [] if isinstance(c, dict))


class ExperimentProcess:
    def __init__(self, experiment_path: Path, experiment: dict, run_path: Path,
                 variables: dict | None = None, sealed: bool = False) -> None:
        self.experiment_path = Path(experiment_path)
        self.experiment = experiment
        self.run_path = Path(run_path)
        self.run = Run(self.run_path)
        self.sealed = sealed
        self.out = sealed_dir(self.run) if sealed else self.run.chaos_dir
        self.journal = self._in_out(self.run.chaos_journal(NEUTRAL_NAME))
        self.log = self._in_out(self.run.chaos_log(NEUTRAL_NAME))
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
            control = self._in_out(self.run.chaos_controls)
            control.write_text(json.dumps({"gameday": {"provider": {
                "type": "python", "module": CONTROL_MODULE}}}))
            argv += ["--control-file", str(control)]
        return argv + [str(self.experiment_path.resolve())]

    def _in_out(self, path: Path) -> Path:
        """A chaos file's name (gameday.runfolder) in the folder this run writes it to."""
        return self.out / path.name

    @property
    def events_path(self) -> Path:
        """Where the chaos process's timeline events are until the end."""
        return self.out if self.sealed else self.run_path

    def start(self) -> ExperimentProcess:
        self.out.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.journal.unlink(missing_ok=True)
        env = {**os.environ, RUN_ENV: str(self.run_path)}
        env.pop(SEALED_ENV, None)
        if self.sealed:
            self.out.chmod(0o700)
            env[SEALED_ENV] = str(self.out)
        # Should the drill die (even SIGKILL), chaos gets SIGINT: it runs its rollbacks and
        # ends; what it injected expires by its TTL in any case.
        with open(self._in_out(self.run.chaos_stdout), "ab") as out:
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

    def reveal(self) -> int:
        """The end of a wheel (after ``stop``): the sealed events join the run's timeline
        and the sealed files move into ``<run>/chaos/``; how many events joined."""
        if not self.sealed or not self.out.is_dir():
            return 0
        try:
            return self._reveal()
        except OSError as err:  # the teardown goes on: faults cleared, load stopped
            log.error("could not reveal the sealed chaos side in %s: %s", self.out, err)
            return 0

    def _reveal(self) -> int:
        from gameday.timeline import timeline_path

        sealed_timeline = timeline_path(self.out)
        joined = 0
        if sealed_timeline.exists():
            raw = sealed_timeline.read_bytes()
            whole = raw[:raw.rfind(b"\n") + 1]  # a line torn by a killed writer stays out
            if whole:
                with open(timeline_path(self.run_path), "ab") as fh:
                    fh.write(whole)
                    fh.flush()
                    os.fsync(fh.fileno())
                joined = whole.count(b"\n")
            sealed_timeline.unlink()
        chaos = self.run.chaos_dir
        chaos.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.out.iterdir()):
            os.replace(path, chaos / path.name)
        self.out.rmdir()
        try:
            self.out.parent.rmdir()  # .gameday/sealed/, when no other wheel uses it
        except OSError:
            pass
        self.out, self.sealed = chaos, False
        self.journal, self.log = chaos / self.journal.name, chaos / self.log.name
        return joined

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
