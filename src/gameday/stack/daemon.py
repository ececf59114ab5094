"""The supervisor as a background process (``gameday up --detach``).

``launch_detached`` registers the run (``stack/registry.py``: refused if a live stack holds
its ports), starts ``python -m gameday.stack.daemon <run>``
in a new session, and returns once every process is ready (or raises with the reason). The
launched process forks once and exits, so the supervisor is re-parented away from the caller
and never lingers as a zombie of it; that child takes over the run's registry entry. Output
of the supervisor goes to logs/supervisor.log.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gameday.errors import StackError
from gameday.runfolder import Run
from gameday.stack.control import stop_stack, wait_settled
from gameday.stack.registry import claim_run, forget_run, register_stack
from gameday.stack.spec import StackSpec, validate_spec
from gameday.stack.state import StackState
from gameday.stack.supervisor import Supervisor


def launch_detached(spec: StackSpec, home: Path | None = None,
                    timeout: float | None = None) -> tuple[Run, StackState]:
    validate_spec(spec)
    run = register_stack(spec, "up", home)
    run.spec_path.write_text(spec.model_dump_json(indent=2))
    with open(run.supervisor_log, "ab") as log:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "gameday.stack.daemon", str(run.path.resolve())],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            close_fds=True,
        )
    try:
        launcher.wait(timeout=30)
    except subprocess.TimeoutExpired:
        launcher.kill()
        launcher.wait()
        raise StackError(f"run {run.id}: supervisor launcher hung; "
                         f"see {run.supervisor_log}") from None
    if launcher.returncode != 0:
        raise StackError(f"run {run.id}: supervisor launcher exited with "
                         f"{launcher.returncode}; see {run.supervisor_log}")
    s = spec.settings
    timeout = timeout or s.ready_timeout_s + s.stop_grace_s + 15
    try:
        state = wait_settled(run, timeout=timeout)
    except BaseException:
        try:
            stop_stack(run)
        except Exception:  # already failing: keep the first error
            pass
        raise
    if state.status != "running":
        raise StackError(state.error or f"run {run.id}: stack {state.status}; "
                                        f"see {run.supervisor_log}")
    return run, state


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    no_fork = "--no-fork" in args
    args = [a for a in args if a != "--no-fork"]
    if len(args) != 1:
        print("usage: python -m gameday.stack.daemon RUN_DIR [--no-fork]", file=sys.stderr)
        return 2
    run = Run(Path(args[0]))
    spec = StackSpec.model_validate_json(run.spec_path.read_text())
    if not no_fork and os.fork() > 0:
        os._exit(0)  # the launcher: its child carries on as the supervisor
    claim_run(run)
    supervisor = Supervisor(spec, run)
    supervisor.install_signal_handlers()
    try:
        state = supervisor.run()
    finally:
        forget_run(run)
    return 0 if state.status == "stopped" else 1


if __name__ == "__main__":
    sys.exit(main())
