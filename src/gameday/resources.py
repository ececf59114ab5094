"""Resources: the scenarios, SLO specs, window catalogs, generated rules, runbooks, templates,
locustfiles and recordings gameday reads, found the same way from a checkout or an installed wheel.

Each kind is looked for in these roots, first match wins:

1. ``$GAMEDAY_HOME``: a workspace folder (made by ``gameday init``); an error if it does
   not exist;
2. the working directory, when it holds that kind's folder (a checkout, or a workspace);
3. the copy shipped with the package: ``gameday/_resources/`` in an installed wheel (package
   data, see pyproject.toml), or the source tree of an editable install.

A folder counts only when it holds what the kind needs (a ``*.json`` scenario, a
``gateway_users.py``...), so an empty ``experiments/`` does not hide the shipped scenarios.
The window catalogs, the policies and the generated rules belong to the SLO specs they came
from: they are read from the same ``slos/`` folder as the specs, never mixed across roots.
``$GAMEDAY_LOADTESTS_DIR`` still names a loadtests folder of its own and comes first.
A resource found nowhere raises :class:`MissingResourceError` (a ``NotFoundError``) naming
what and where.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from gameday.errors import NotFoundError, ValidationError

HOME_ENV = "GAMEDAY_HOME"
LOADTESTS_ENV = "GAMEDAY_LOADTESTS_DIR"
SHIPPED_DIRNAME = "_resources"  # gameday/_resources/<folder> inside the wheel
RULES_GLOB = "*.rules.yml"
TEMPLATE = "postmortem.md.j2"
RECORDING_SUFFIX = ".jsonl.gz"

# kind -> (folder under a root, glob that must match inside it)
KINDS = {
    "experiments": ("experiments", "*.json"),
    "slos": ("slos", "*.yaml"),
    "runbooks": ("runbooks", "*.md"),
    "templates": ("runbooks/templates", TEMPLATE),
    "loadtests": ("loadtests", "gateway_users.py"),
    "recordings": ("recordings", "*" + RECORDING_SUFFIX),
}
# what ``gameday init`` copies: the folders a learner edits (with their subfolders)
WORKSPACE_FOLDERS = ("experiments", "slos", "runbooks", "loadtests")


class MissingResourceError(NotFoundError, ValidationError):
    """A resource found in none of the roots. Also a ValidationError, so the command line
    exits 2 as for bad input: the fix is in how gameday is pointed at its resources
    ($GAMEDAY_HOME, the working directory, the flag of the command), not in a retry."""


@dataclass(frozen=True)
class Root:
    path: Path
    origin: str  # "$GAMEDAY_HOME", "working directory", "package"

    def describe(self, folder: str) -> str:
        return f"{self.path / folder} ({self.origin})"


def shipped_root() -> Path | None:
    """The package's own copy: ``gameday/_resources`` of a wheel, else the source tree of
    an editable install of this very package (pip's direct_url.json), else None."""
    packaged = Path(__file__).with_name(SHIPPED_DIRNAME)
    if packaged.is_dir():
        return packaged
    return _editable_source()


def _editable_source() -> Path | None:
    """The source tree this module was imported from, per the direct_url.json pip writes
    for an editable install (other gameday metadata on sys.path, a stale egg-info, is
    passed over)."""
    from importlib import metadata

    here = Path(__file__).resolve()
    for dist in metadata.distributions(name="gameday"):
        try:
            info = json.loads(dist.read_text("direct_url.json") or "{}")
        except ValueError:
            continue
        url = info.get("url") or ""
        if not (info.get("dir_info") or {}).get("editable") or not url.startswith("file:"):
            continue
        source = Path(unquote(urlsplit(url).path))
        if here.is_relative_to(source.resolve()):
            return source
    return None


def roots() -> list[Root]:
    """Where resources are looked for, in order (see the module docstring)."""
    found: list[Root] = []
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        path = Path(home).expanduser()
        if not path.is_dir():
            raise MissingResourceError(f"${HOME_ENV}: no such folder {home!r}")
        found.append(Root(path, f"${HOME_ENV}"))
    found.append(Root(Path.cwd(), "working directory"))
    shipped = shipped_root()
    if shipped is not None:
        found.append(Root(shipped, "package"))
    unique: list[Root] = []
    for root in found:
        if all(root.path.resolve() != u.path.resolve() for u in unique):
            unique.append(root)
    return unique


def _holds(folder: Path, pattern: str) -> bool:
    return folder.is_dir() and any(folder.glob(pattern))


def find_folder(kind: str, editable: bool = False) -> Path:
    """The first root's folder of ``kind`` (a key of KINDS) that holds what it needs.
    ``editable``: only $GAMEDAY_HOME and the working directory, never the package's copy
    (for commands that write next to the resources)."""
    folder, pattern = KINDS[kind]
    candidates = [r for r in roots() if not editable or r.origin != "package"]
    for root in candidates:
        if _holds(root.path / folder, pattern):
            return root.path / folder
    where = ", ".join(r.describe(folder) for r in candidates) or "nowhere"
    hint = "; run 'gameday init' to make a workspace" if editable else ""
    raise MissingResourceError(f"no {kind} found: no {pattern} in {where}{hint}")


def experiments_dir() -> Path:
    return find_folder("experiments")


def slos_dir(editable: bool = False) -> Path:
    return find_folder("slos", editable)


def runbooks_dir() -> Path:
    return find_folder("runbooks")


def templates_dir() -> Path:
    return find_folder("templates")


def loadtests_dir() -> Path:
    """$GAMEDAY_LOADTESTS_DIR when set (it must hold gateway_users.py), else as the rest."""
    given = os.environ.get(LOADTESTS_ENV, "").strip()
    if given:
        _, pattern = KINDS["loadtests"]
        if not _holds(Path(given), pattern):
            raise MissingResourceError(f"${LOADTESTS_ENV}: no {pattern} in {given}")
        return Path(given)
    return find_folder("loadtests")


def windows_dir(slos: Path | None = None) -> Path:
    """The window catalogs beside the SLO specs in use (``slos/windows``)."""
    folder = (slos or slos_dir()) / "windows"
    if not _holds(folder, "*.yaml"):
        raise MissingResourceError(f"no window catalogs: no *.yaml in {folder}")
    return folder


def policies_file(slos: Path | None = None) -> Path:
    """The shared SLO documents and error-budget policy (``slos/policies.yaml``)."""
    path = (slos or slos_dir()) / "policies.yaml"
    if not path.is_file():
        raise MissingResourceError(f"no error-budget policy: no {path}")
    return path


def rule_files(folder: Path | None) -> list[Path]:
    """The generated rule files of one catalog folder, in a stable order."""
    return sorted(folder.glob(RULES_GLOB)) if folder else []


def rules_dir(catalog: str, slos: Path | None = None) -> Path:
    """``slos/_gen/<catalog>`` beside the SLO specs in use, with its rule files."""
    if not catalog or "/" in catalog or catalog.startswith("."):
        raise ValidationError(f"--catalog: not a catalog name, got {catalog!r}")
    folder = (slos or slos_dir()) / "_gen" / catalog
    if not rule_files(folder):
        raise MissingResourceError(f"catalog {catalog!r}: no generated rules ({RULES_GLOB}) in "
                            f"{folder}; run 'gameday slo generate'")
    return folder


def find_file(relative: str) -> Path | None:
    """A file named relative to a root (``runbooks/X.md``, as scenarios and alerts link
    them), in the first root that has it; None if none does."""
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        return None
    for root in roots():
        if (root.path / rel).is_file():
            return root.path / rel
    return None


def plan_workspace(dest: Path, force: bool = False) -> list[tuple[Path, Path]]:
    """(source, target) of every file ``gameday init`` would write into ``dest``: the
    package's copy of WORKSPACE_FOLDERS. Files already there with other content are an
    error unless ``force``; identical ones are left out."""
    source = shipped_root()
    if source is None:
        raise MissingResourceError("no resources shipped with this gameday installation "
                            "(gameday/_resources is missing); reinstall the package")
    plan, clashes = [], []
    for folder in WORKSPACE_FOLDERS:
        top = source / folder
        if not top.is_dir():
            raise MissingResourceError(f"{top}: missing from this gameday installation")
        for path in sorted(top.rglob("*")):
            rel = path.relative_to(source)
            if path.is_dir() or _skipped(rel):
                continue
            target = dest / rel
            if target.exists():
                if target.is_file() and target.read_bytes() == path.read_bytes():
                    continue
                clashes.append(target)
            plan.append((path, target))
    if clashes and not force:
        shown = ", ".join(str(p) for p in clashes[:3]) + (" ..." if len(clashes) > 3 else "")
        raise ValidationError(f"{dest}: {len(clashes)} file(s) already exist with other "
                              f"content ({shown}); pass --force to overwrite them")
    return plan


def _skipped(rel: Path) -> bool:
    """Byte-code and hidden files are not resources."""
    return rel.suffix == ".pyc" or any(p == "__pycache__" or p.startswith(".")
                                       for p in rel.parts)


def copy_workspace(plan: list[tuple[Path, Path]]) -> list[Path]:
    """Write the files of ``plan_workspace``; returns the targets written."""
    written = []
    for source, target in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return written


def recording_names() -> dict[str, Path]:
    """Every recording found by name (``recordings/<name>.jsonl.gz``) in the roots; a name
    in an earlier root hides the same name further on."""
    folder, pattern = KINDS["recordings"]
    found: dict[str, Path] = {}
    for root in roots():
        for path in sorted((root.path / folder).glob(pattern)):
            found.setdefault(path.name[: -len(RECORDING_SUFFIX)], path)
    return dict(sorted(found.items()))


def find_recording(name_or_path: str | Path) -> Path:
    """A recording: the file if ``name_or_path`` is one, else the recording of that name
    (``recordings/<name>.jsonl.gz``, the suffix optional) in the first root that has it."""
    given = str(name_or_path)
    path = Path(given).expanduser()
    if path.is_file():
        return path
    name = given[: -len(RECORDING_SUFFIX)] if given.endswith(RECORDING_SUFFIX) else given
    folder, _ = KINDS["recordings"]
    if name and "/" not in name and not name.startswith("."):
        for root in roots():
            candidate = root.path / folder / (name + RECORDING_SUFFIX)
            if candidate.is_file():
                return candidate
    names = ", ".join(recording_names()) or "none"
    where = ", ".join(r.describe(folder) for r in roots())
    raise MissingResourceError(f"recording {given!r}: no such file, nor a recording of that "
                               f"name in {where}; names available: {names}")
