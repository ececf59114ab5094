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
    if opt.prometheus:
        args["sets"] += ["stack.prometheus=true", f"stack.alert_webhook={webhook_url}"]
    # Free ports: beside a 'gameday up' stack; registered as a drill's own stack, which
    # 'gameday down' names instead of stopping it unasked.
    stack = Stack(build_spec(free_ports=True, **args), home=home, kind="drill")
    stack.start()
    return DrillStack(stack.run.path, stack.state(), local=stack)
