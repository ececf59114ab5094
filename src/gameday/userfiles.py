"""Files a user gives (scenarios, SLO specs): read with bounds, refused with one line; and
files written for a user (recordings, exports): never half-written, never over theirs.

A file named on the command line may be anything: a device that never ends (``/dev/zero``),
a gigabyte of text, JSON nested 100,000 levels deep (``json.loads`` overflows the stack),
escapes that make lone surrogates (``"\\ud800"``: no terminal or file can print them), or a
5,000-digit number (Python refuses to turn it into a string). Each is refused here, naming
the file and what is wrong, before anything else looks at the content::

    raw = read_bounded(path, "scenario")                  # bytes, at most MAX_BYTES
    data = load_json_file(path, "scenario")               # checked JSON
    stats = write_into_place(out, write, "the recording", force=force)   # temp, then rename
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from gameday.errors import NotFoundError, OutputError, ValidationError
from gameday.text import find_bad_text

MAX_BYTES = 2 << 20  # scenarios and SLO specs are a few KiB; 2 MiB is far beyond any
MAX_DEPTH = 64  # the deepest scenario nests about 8 levels
MAX_NUMBER_DIGITS = 64  # a float has 17 significant digits; nothing needs more

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NUMBER_DIGITS", "check_json_depth", "check_output_file",
           "check_writable_folder", "load_json_file",
           "load_yaml_documents", "read_bounded", "shorten", "temp_beside", "write_into_place"]

T = TypeVar("T")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")
_LONG_NUMBER = re.compile(rf"\d{{{MAX_NUMBER_DIGITS + 1},}}")


def shorten(text: str, keep: int = 24) -> str:
    """``text`` cut in the middle when long: ``'999999999999999999...9999'``."""
    if len(text) <= keep:
        return text
    return f"{text[:keep - 7]}...{text[-4:]}"


def read_bounded(path: Path, what: str = "file", limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; NotFoundError when it cannot
    be read, ValidationError when it is not a regular file or too large."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer; it is refused below
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise ValidationError(f"{path}: not a regular file; a {what} is a file")
            data = fh.read(limit + 1)
    except IsADirectoryError:
        raise ValidationError(f"{path}: is a directory; a {what} is a file") from None
    except OSError as err:
        raise NotFoundError(f"{path}: cannot read the {what} ({err.strerror or err})") from None
    if len(data) > limit:
        raise ValidationError(f"{path}: larger than {limit // 1024} KiB; not a {what}")
    return data


def decode_text(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValidationError(f"{path}: not UTF-8 text (bad byte at offset {err.start})") \
            from None


def check_json_depth(text: str, where: str, limit: int = MAX_DEPTH) -> None:
    """Raise when arrays and objects of ``text`` nest deeper than ``limit`` (checked without
    parsing, so without recursion); brackets inside strings do not count."""
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > limit:
            raise ValidationError(f"{where}: not valid JSON: nested too deeply (more than "
                                  f"{limit} levels of arrays and objects)")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def load_json_file(path: Path, what: str = "file", limit: int = MAX_BYTES,
                   max_depth: int = MAX_DEPTH) -> object:
    """The JSON value of a file, checked: size, UTF-8, nesting depth, strict numbers (no
    NaN or Infinity, no number longer than MAX_NUMBER_DIGITS digits), and every string
    (keys too) valid Unicode text (no lone surrogate from a ``\\ud800`` escape)."""
    path = Path(path)
    text = decode_text(read_bounded(path, what, limit), path)
    check_json_depth(text, str(path), max_depth)
    long = _LONG_NUMBER.search(_STRING.sub('""', text))
    if long is not None:
        raise ValidationError(f"{path}: not valid JSON: a number of {len(long.group())} "
                              f"digits, got {shorten(long.group())}")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as err:
        raise ValidationError(f"{path}: not valid JSON ({shorten(str(err), 60)})") from None
    found = find_bad_text(value, "$")
    if found is not None:
        field = found[2:] if found.startswith("$.") else found.replace("$", "top level", 1)
        raise ValidationError(f"{path}: {field}: not valid Unicode text (a lone surrogate, "
                              f"as from a '\\ud800' escape)")
    return value


def _number_path(node: yaml.Node) -> tuple[str, str] | None:
    """(field path, text) of the first integer of a document longer than
    MAX_NUMBER_DIGITS digits: Python refuses to print it, and no SLO needs it. Walks the
    composed nodes without recursion; an alias is walked once."""
    todo: list[tuple[yaml.Node, str]] = [(node, "")]
    seen: set[int] = set()
    while todo:
        node, where = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            digits = sum(ch.isdigit() for ch in node.value)
            if node.tag.endswith(":int") and digits > MAX_NUMBER_DIGITS:
                return where or "(the document)", node.value
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, f"{where}[{i}]") for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                todo.extend([(key, f"{where} (a key)"),
                             (value, f"{where}.{name}" if where else str(name))])
    return None


def load_yaml_documents(path: Path, what: str = "file", limit: int = MAX_BYTES) -> list:
    """The documents of a YAML file (safe_load_all), bounded: size, UTF-8, nesting depth,
    length of integers; ValidationError naming the file (and the field of a long number)."""
    try:
        text = decode_text(read_bounded(path, what, limit), path)
    except NotFoundError as err:  # for a list of files: one more error, not a stop
        raise ValidationError(str(err)) from None
    loader = yaml.SafeLoader(text)
    out = []
    try:
        while loader.check_node():
            node = loader.get_node()
            found = _number_path(node)
            if found is not None:
                raise ValidationError(f"{path}: document {len(out) + 1}: {found[0]}: number "
                                      f"too long ({len(found[1])} characters), got "
                                      f"{shorten(found[1])}")
            out.append(loader.construct_document(node))
    except yaml.YAMLError as err:
        raise ValidationError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise ValidationError(f"{path}: not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    return out


# -- files gameday writes where a user said ------------------------------------------------
def check_writable_folder(folder: Path, what: str) -> None:
    """OutputError naming ``folder`` when nothing can be created in it (read-only)."""
    folder = Path(folder)
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: read-only folder, cannot write {what} there")


def check_output_file(path: Path, what: str) -> None:
    """ValidationError when ``path`` is something a file of ours must not replace (a
    directory, a device, a symlink, a pipe); OutputError when its folder is read-only."""
    path = Path(path)
    if path.is_dir():
        raise ValidationError(f"{path}: is a directory; give a file path for {what}")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ValidationError(f"{path}: not a regular file; give a file path for {what}")
    check_writable_folder(path.parent, what)


def temp_beside(out: Path) -> Path:
    """A temporary name in ``out``'s folder (same disk: the rename is atomic), hidden and
    marked as ours: ``.<name>.<pid>.part``."""
    out = Path(out)
    return out.with_name(f".{out.name}.{os.getpid()}.part")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_into_place(out: Path, write: Callable[[Path], T], what: str,
                     force: bool = False) -> T:
    """Run ``write(tmp)`` on a temporary file beside ``out``, then rename it to ``out``:
    nothing half-written is ever left at ``out`` (a failure or Ctrl-C removes the temporary
    file), an existing ``out`` is replaced only with ``force``, and the file gets the
    user's usual mode (umask), not a temporary file's 0600. Returns what ``write`` returns."""
    out = Path(out)
    if out.exists() and not force:
        raise ValidationError(f"{out}: already exists; pass --force to replace it")
    check_output_file(out, what)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        result = write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except OSError as err:
        raise OutputError(f"{err.filename or out}: cannot write {what} "
                          f"({err.strerror or err})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return result
