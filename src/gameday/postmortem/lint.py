"""Check a postmortem: sections, leftover prompts, action items, timeline order, blame.

Errors fail CI (exit 1); warnings do not. ``allow_prompts`` turns leftover prompts into a
single warning, for a freshly generated draft.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from gameday.errors import ValidationError

from .markers import ACTION_TYPES, LESSONS, PROMPT, PROMPT_RE, SECTIONS

BLAME = (
    r"human error", r"operator error", r"user error", r"should(?: not|n't)? have",
    r"careless(?:ly|ness)?", r"fault of", r"(?:his|her|their|your) fault", r"negligen\w*",
    r"incompeten\w*", r"blamed?", r"sloppy", r"stupid", r"lazy", r"forgot to",
)
BLAME_RE = re.compile(r"\b(" + "|".join(BLAME) + r")\b", re.IGNORECASE)
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%H:%M:%S",
                "%H:%M")


@dataclass(frozen=True)
class Finding:
    level: str  # error | warning
    line: int
    code: str
    message: str


@dataclass
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number, cells)


MAX_BYTES = 1 << 20  # a postmortem is prose: 1 MiB is far beyond any real one


def read_postmortem(path: Path) -> str:
    """The text of ``path``: a regular file of at most ``MAX_BYTES``, in UTF-8."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            raise ValidationError(f"{path}: not a regular file")
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ValidationError(f"{path}: larger than {MAX_BYTES // 1024} KiB; not a "
                                  f"postmortem")
        return data.decode("utf-8")
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise ValidationError(f"{path}: cannot read: {err.strerror or err}") from None


def _split_row(line: str) -> list[str]:
    body = line.strip().strip("|")
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)]


def _scan(lines: list[str]) -> tuple[list[tuple[int, int, str]], list[bool]]:
    """Headings as (line, level, title), and which lines are inside fenced code."""
    headings, fenced, inside = [], [], False
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith(("```", "~~~")):
            inside = not inside
            fenced.append(True)
            continue
        fenced.append(inside)
        match = None if inside else HEADING_RE.match(line)
        if match:
            headings.append((number, len(match.group(1)), match.group(2)))
    return headings, fenced


def _section(lines, headings, title: str) -> tuple[int, int] | None:
    """(first, last) line numbers of the level-2 section ``title``, body only."""
    for i, (number, level, text) in enumerate(headings):
        if level == 2 and text.lower() == title.lower():
            end = next((n - 1 for n, lv, _ in headings[i + 1:] if lv <= 2), len(lines))
            return number + 1, end
    return None


def _tables(lines: list[str], span: tuple[int, int]) -> list[Table]:
    tables, current = [], None
    for number in range(span[0], span[1] + 1):
        line = lines[number - 1]
        if not line.strip().startswith("|"):
            current = None
            continue
        cells = _split_row(line)
        if current is None:
            current = Table([c.lower() for c in cells], [])
            tables.append(current)
        elif all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
            continue
        else:
            current.rows.append((number, cells))
    return tables


def _parse_time(text: str) -> time.struct_time | None:
    text = re.sub(r"\s*(UTC|Z)$", "", text.strip().strip("`*"), flags=re.IGNORECASE)
    for fmt in TIME_FORMATS:
        try:
            return time.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _empty(cell: str) -> bool:
    return cell.strip().strip("`*_") in ("", "-", "n/a", "?", "tbd", "TBD")


def _has_content(lines, first: int, last: int) -> bool:
    """Any line of text in [first, last] that is not a heading, a table rule or blank."""
    for number in range(first, last + 1):
        text = lines[number - 1].strip()
        if not text or HEADING_RE.match(text) or re.fullmatch(r"[|:\-\s]+", text):
            continue
        if text.startswith("|") and all(_empty(c) for c in _split_row(text)):
            continue
        return True
    return False


def _subsection(lines, headings, title: str) -> tuple[int, int] | None:
    for i, (number, level, text) in enumerate(headings):
        if level >= 3 and text.lower() == title.lower():
            end = next((n - 1 for n, lv, _ in headings[i + 1:] if lv <= level), len(lines))
            return number + 1, end
    return None


def check_sections(lines, headings) -> list[Finding]:
    """Every required section is there and says something (a prompt counts: it is
    reported on its own)."""
    found = []
    for title in SECTIONS:
        span = _section(lines, headings, title)
        if span is None:
            found.append(Finding("error", 0, "missing-section", f"no '## {title}' section"))
        elif title != "Lessons learned" and not _has_content(lines, *span):
            found.append(Finding("error", span[0] - 1, "empty-section",
                                 f"'## {title}' is empty"))
    if _section(lines, headings, "Lessons learned"):
        for title in LESSONS:
            span = _subsection(lines, headings, title)
            if span is None:
                found.append(Finding("error", 0, "missing-section",
                                     f"no '### {title}' under Lessons learned"))
            elif not _has_content(lines, *span):
                found.append(Finding("error", span[0] - 1, "empty-section",
                                     f"'### {title}' is empty"))
    return found


def check_prompts(lines, allow: bool) -> list[Finding]:
    hits = [n for n, line in enumerate(lines, start=1) if PROMPT_RE.search(line)]
    if allow:
        return [Finding("warning", hits[0], "prompt",
                        f"{len(hits)} line(s) still hold {PROMPT} prompts")] if hits else []
    return [Finding("error", n, "prompt", f"leftover prompt: {lines[n - 1].strip()[:70]}")
            for n in hits]


def check_action_items(lines, headings) -> list[Finding]:
    span = _section(lines, headings, "Action items")
    if span is None:
        return []
    table = next((t for t in _tables(lines, span) if "owner" in t.header and "type" in t.header),
                 None)
    if table is None:
        return [Finding("error", span[0] - 1, "action-table",
                        "action items need a table with Type and Owner columns")]
    if not table.rows or all(all(_empty(c) for c in cells) for _, cells in table.rows):
        return [Finding("error", span[0] - 1, "action-none",
                        "no action items: an incident worth a review leaves at least one")]
    if "tracking" not in table.header:
        return [Finding("error", span[0] - 1, "action-table",
                        "action items need a Tracking column (a link to each item's ticket)")]
    col = {name: table.header.index(name) for name in ("owner", "type", "tracking")
           if name in table.header}
    found = []
    for number, cells in table.rows:
        def get(name: str, cells=cells) -> str:
            i = col.get(name)
            return cells[i] if i is not None and i < len(cells) else ""
        owner, kind = get("owner"), get("type")
        if _empty(owner):
            found.append(Finding("error", number, "action-owner", "action item without an owner"))
        if _empty(kind):
            found.append(Finding("error", number, "action-type", "action item without a type"))
        elif not PROMPT_RE.search(kind) and kind.strip("`*_ ").lower() not in ACTION_TYPES:
            found.append(Finding("error", number, "action-type",
                                 f"type must be one of {', '.join(ACTION_TYPES)}, got {kind!r}"))
        if _empty(get("tracking")):
            found.append(Finding("error", number, "action-tracking",
                                 "action item without a tracking link"))
    return found


def check_timeline(lines, headings) -> list[Finding]:
    span = _section(lines, headings, "Timeline")
    if span is None:
        return []
    found, previous = [], None
    tables = _tables(lines, span)
    if not any(any(not _empty(c) for c in cells) for t in tables for _, cells in t.rows):
        found.append(Finding("error", span[0] - 1, "empty-section",
                             "'## Timeline' is empty: no timeline entries"))
    for table in tables:
        for number, cells in table.rows:
            if not cells or PROMPT_RE.search(cells[0]):
                continue
            stamp = _parse_time(cells[0])
            if stamp is None:
                found.append(Finding("warning", number, "timeline-time",
                                     f"cannot read the time {cells[0]!r}"))
                continue
            if previous and stamp < previous[1]:
                found.append(Finding("error", number, "timeline-order",
                                     f"{cells[0]!r} is earlier than the row before it "
                                     f"(line {previous[0]})"))
            previous = (number, stamp)
    return found


def check_blame(lines, fenced) -> list[Finding]:
    found = []
    for number, line in enumerate(lines, start=1):
        if fenced[number - 1]:
            continue
        for match in BLAME_RE.finditer(line):
            found.append(Finding("warning", number, "blame",
                                 f"blaming language {match.group(0)!r}: describe what the "
                                 f"system allowed, not who slipped"))
    return found


def lint_text(text: str, allow_prompts: bool = False) -> list[Finding]:
    lines = text.splitlines()
    headings, fenced = _scan(lines)
    findings = (check_sections(lines, headings) + check_prompts(lines, allow_prompts)
                + check_action_items(lines, headings) + check_timeline(lines, headings)
                + check_blame(lines, fenced))
    return sorted(findings, key=lambda f: (f.line, f.level != "error", f.code))


def lint_file(path: Path, allow_prompts: bool = False) -> list[Finding]:
    return lint_text(read_postmortem(path), allow_prompts)


def as_dict(f: Finding) -> dict:
    return asdict(f)
