"""The ``gameday`` Typer app: each noun registers its commands here."""

from __future__ import annotations

import typer

from gameday.cli import chaos, demo, drill, faults, incident, init, load, postmortem, slo, stack
from gameday.cli import facilitator as facilitator_cli
from gameday.cli import history as history_cli
from gameday.cli import record as record_cli
from gameday.cli import recording as recording_cli
from gameday.cli import report as report_cli
from gameday.cli.errors import wrap_commands

app = typer.Typer(
    name="gameday",
    help="SRE reliability and chaos training toolkit for AI model-serving infrastructure.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold the admin token
    add_completion=False,
)

facilitator_cli.add_commands(incident.app)  # the facilitator's commands: gameday incident ...
for noun in (init, stack, faults, slo, demo, drill, incident, postmortem, load, chaos):
    noun.register(app)
report_cli.register(app)
record_cli.register(app)
recording_cli.register(app)
history_cli.register(app)

wrap_commands(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
