"""A small, safe Markdown renderer for runbooks shown in the console.

Headings, paragraphs, bullet and numbered lists, pipe tables, fenced code blocks and inline
code, bold;
everything else is text. Every piece of text is HTML-escaped first, and no link, image or
raw HTML is ever produced, so a hostile runbook shows as text.
"""

from __future__ import annotations

import html
import re

MAX_CHARS = 200_000  # a runbook longer than this is cut (a runbook is a page, not a book)
_INLINE_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def _inline(text: str) -> str:
    out = []
    for i, part in enumerate(_INLINE_CODE.split(text)):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            out.append(_BOLD.sub(r"<strong>\1</strong>", html.escape(part)))
    return "".join(out)


def render_markdown(text: str) -> str:
    """``text`` (Markdown) as escaped HTML."""
    lines = text[:MAX_CHARS].splitlines()
    out: list[str] = []
    para: list[str] = []
    lists: str | None = None  # "ul" | "ol" while inside a list

    def close_para() -> None:
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()

    def close_list() -> None:
        nonlocal lists
        if lists:
            out.append(f"</{lists}>")
            lists = None

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            close_para()
            close_list()
            code = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i])
                i += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(code))}</code></pre>")
        elif not stripped:
            close_para()
            close_list()
        elif stripped.startswith("|"):
            close_para()
            close_list()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-*:?", c) for c in cells):  # not |---|
                    rows.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells)
                                + "</tr>")
                i += 1
            out.append("<table>" + "".join(rows) + "</table>")
            continue
        elif m := re.match(r"(#{1,6})\s+(.*)", stripped):
            close_para()
            close_list()
            level = min(len(m.group(1)) + 1, 6)  # the page has its own h1
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif m := re.match(r"([-*+]|\d+[.)])\s+(.*)", stripped):
            close_para()
            kind = "ol" if m.group(1)[0].isdigit() else "ul"
            if lists != kind:
                close_list()
                out.append(f"<{kind}>")
                lists = kind
            out.append(f"<li>{_inline(m.group(2))}</li>")
        elif lists and line[:1].isspace():  # a list item's continuation line
            out[-1] = out[-1][:-5] + " " + _inline(stripped) + "</li>"
        else:
            close_list()
            para.append(stripped)
        i += 1
    close_para()
    close_list()
    return "\n".join(out)
