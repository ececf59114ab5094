"""The one marker for what only people can fill in, shared by the template and the linter.

In prose a prompt is a quoted line, ``> TODO(human): what to write here``; in a table cell
it is the bare marker, ``TODO(human)``. ``gameday postmortem lint`` reports every one left.
"""

from __future__ import annotations

import re

PROMPT = "TODO(human)"
PROMPT_RE = re.compile(re.escape(PROMPT), re.IGNORECASE)

SECTIONS = (
    "Summary",
    "Impact",
    "Root causes",
    "Trigger",
    "Detection",
    "Response",
    "Recovery",
    "Timeline",
    "Lessons learned",
    "Action items",
    "Supporting information",
)
LESSONS = ("What went well", "What went wrong", "Where we got lucky")
ACTION_TYPES = ("mitigate", "prevent", "process")
