"""The stack a drill runs on: one it starts, a running run (--attach), or services it did
not start (--stack-file: containers, a cluster).

A wheel's own stack seals its fault store and the services' lines about faults
(``stack.sealed_faults``: ``.gameday/sealed/<run-id>-stack/``); stopping the stack reveals
them into the run folder's ``faults/`` and ``logs/``. A stack the drill attaches to is not
sealed: its fault files stay where that stack put them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from gameday.errors import StackError

log = logging.getLogger("gameday.drill")


@dataclass
class DrillStack:
    run_path: Path
    state: object  # gameday.stack.state.StackState
    local: object | None = None  # gameday.stack.local.Stack, when the drill started it
    external: object | None = None  # gameday.stack.external.ExternalAttachment
    sealed: bool = False  # a wheel's stack: fault store and fault log lines sealed

    def stop(self) -> None:
        if self.local is not None:
            self.local.stop()
            if self.sealed:
                reveal_stack(self.run_path)
        if self.external is not None:
            from gameday.stack.registry import forget_run

            self.external.stop()
            forget_run(self.external.run)


def open_stack(opt, scenario, webhook_url: str, home: Path | None) -> DrillStack:
    """Start or attach to the stack of a drill, per its options (``DrillOptions``)."""
    if opt.stack_file is not None:
        from gameday.stack.external import ExternalAttachment, load_stack_file

        source = Path(opt.stack_file)
        from gameday.stack.registry import add_run

        external = ExternalAttachment(load_stack_file(source), source, home).start()
        add_run(external.run, "external")  # so that 'gameday down' and 'status' name it
        return DrillStack(external.run.path, external.state, external=external)
    if opt.attach is not None:
        from gameday.stack.control import load_state, supervisor_alive

        run, state = load_state(opt.attach)
        if not supervisor_alive(state):
            raise StackError(f"--attach: run {run.id} is not running")
        return DrillStack(run.path, state)
    from gameday.stack.local import Stack
    from gameday.stack.registry import sweep
    from gameday.stack.spec import build_spec

    sweep(home)  # what a killed drill before this one left behind

    args = scenario.stack_args()
    if opt.hidden:
        args["sets"] = [*args["sets"], "stack.sealed_faults=true"]
    if opt.prometheus:
        args["sets"] += ["stack.prometheus=true", f"stack.alert_webhook={webhook_url}"]
    # Free ports: beside a 'gameday up' stack; registered as a drill's own stack, which
    # 'gameday down' names instead of stopping it unasked.
    stack = Stack(build_spec(free_ports=True, **args), home=home, kind="drill")
    stack.start()
    return DrillStack(stack.run.path, stack.state(), local=stack, sealed=opt.hidden)


def reveal_stack(run_path: Path) -> int:
    """Move a stopped wheel stack's sealed files into the run folder (``faults/`` and
    ``logs/``) and remove the sealed folder; how many files moved."""
    from gameday.runfolder import Run, sealed_stack_dir

    run = Run(Path(run_path))
    sealed = sealed_stack_dir(run)
    moved = 0
    try:
        for sub, dest in (("faults", run.faults_dir), ("logs", run.logs_dir)):
            folder = sealed / sub
            if not folder.is_dir():
                continue
            dest.mkdir(parents=True, exist_ok=True)
            for path in sorted(folder.iterdir()):
                os.replace(path, dest / path.name)
                moved += 1
            folder.rmdir()
        if sealed.is_dir():
            sealed.rmdir()
        try:
            sealed.parent.rmdir()  # .gameday/sealed/, when no other wheel uses it
        except OSError:
            pass
    except OSError as err:  # the teardown goes on; the files stay sealed, named in the log
        log.error("could not reveal the sealed stack files in %s: %s", sealed, err)
    return moved
