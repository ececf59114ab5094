"""The stack a drill runs on: one it starts, a running run (--attach), or services it did
not start (--stack-file: containers, a cluster)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gameday.errors import StackError


@dataclass
class DrillStack:
    run_path: Path
    state: object  # gameday.stack.state.StackState
    local: object | None = None  # gameday.stack.local.Stack, when the drill started it
    external: object | None = None  # gameday.stack.external.ExternalAttachment

    def stop(self) -> None:
        if self.local is not None:
            self.local.stop()
        if self.external is not None:
            self.external.stop()


def open_stack(opt, scenario, webhook_url: str, home: Path | None) -> DrillStack:
    """Start or attach to the stack of a drill, per its options (``DrillOptions``)."""
    if opt.stack_file is not None:
        from gameday.stack.external import ExternalAttachment, load_stack_file

        source = Path(opt.stack_file)
        external = ExternalAttachment(load_stack_file(source), source, home).start()
        return DrillStack(external.run.path, external.state, external=external)
    if opt.attach is not None:
        from gameday.stack.control import load_state, supervisor_alive

        run, state = load_state(opt.attach)
        if not supervisor_alive(state):
            raise StackError(f"--attach: run {run.id} is not running")
        return DrillStack(run.path, state)
    from gameday.stack.local import Stack
    from gameday.stack.spec import build_spec
    from gameday.stack.stale import clean_current

    clean_current(home)  # what a killed drill before this one left behind

    args = scenario.stack_args()
    if opt.prometheus:
        args["sets"] += ["stack.prometheus=true", f"stack.alert_webhook={webhook_url}"]
    stack = Stack(build_spec(free_ports=True, **args), home=home)
    stack.start()
    return DrillStack(stack.run.path, stack.state(), local=stack)
