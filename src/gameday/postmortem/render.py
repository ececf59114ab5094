"""Fill the postmortem template with a run's facts and write the draft without clobbering."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gameday.errors import NotFoundError, ValidationError
from gameday.runfolder import Run

from .facts import collect_facts
from .markers import PROMPT

TEMPLATE = "postmortem.md.j2"


def default_templates_dir() -> Path:
    """``runbooks/templates`` of the resources in use (gameday.resources)."""
    from gameday.resources import templates_dir

    try:
        return templates_dir()
    except NotFoundError as err:
        raise type(err)(f"{err}; pass --template FILE") from None


def _cell(value: object) -> str:
    """Safe inside a Markdown table cell: one line, pipes escaped."""
    text = "-" if value is None or value == "" else str(value)
    return " ".join(text.split()).replace("|", "\\|")


def _template_line(err: BaseException, path: Path) -> int | None:
    """The template line of a render-time error (Jinja2 rewrites tracebacks to point there)."""
    line, tb = None, err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_postmortem(facts: dict, template: Path | None = None) -> str:
    import jinja2

    path = Path(template) if template else default_templates_dir() / TEMPLATE
    if not path.is_file():
        raise NotFoundError(f"{path}: no such template")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(path.parent)),
                             undefined=jinja2.StrictUndefined, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = _cell
    try:
        text = env.get_template(path.name).render(PROMPT=PROMPT, **facts)
    except jinja2.TemplateError as err:
        line = getattr(err, "lineno", None) or _template_line(err, path)
        where = f"{path}:{line}" if line else str(path)
        raise ValidationError(f"{where}: template error: {err.message or err}") from None
    return text.rstrip("\n") + "\n"


def write_new(path: Path, text: str, force: bool = False) -> None:
    """Write atomically (temp file + rename); never replace an existing file unless force."""
    path = Path(path)
    if path.exists() and not force:
        raise ValidationError(f"{path}: already exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise ValidationError(f"{path.parent}: no such folder")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if someone created it meanwhile: no clobbering
            except FileExistsError:
                raise ValidationError(f"{path}: already exists; pass --force to overwrite it")\
                    from None
            except OSError:  # no hard links on this filesystem
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def new_postmortem(run_path: Path, out: Path | None = None, force: bool = False,
                   template: Path | None = None) -> tuple[Path, dict]:
    """Render the draft for ``run_path`` and write it; returns where, and the facts used."""
    out = Path(out) if out else Run(Path(run_path)).postmortem
    if out.exists() and not force:  # check before any work: nothing is written
        raise ValidationError(f"{out}: already exists; pass --force to overwrite it")
    facts = collect_facts(run_path)
    write_new(out, render_postmortem(facts, template), force=force)
    return out, facts
