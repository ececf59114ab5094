"""A drill's outputs from its run folder: score.json, PNG charts, report.md, report.html.

    from gameday.report import compute_score, write_score, write_report

Contract of the inputs: docs/timeline.md and docs/drill-outputs.md.
"""

from .render import write_report
from .run import validate_run
from .score import compute_score, write_score

__all__ = ["compute_score", "validate_run", "write_report", "write_score"]
