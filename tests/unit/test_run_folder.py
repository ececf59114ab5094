"""The run folder has one owner: gameday.runfolder names every file of a run.

A run file name spelled anywhere else in src/gameday (as a string in code: docstrings do
not count) means a second reader or writer finding the file its own way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gameday
from gameday import runfolder
from gameday.errors import NotFoundError, ValidationError
from gameday.runfolder import Run, atomic_write, read_json, resolve_run

SRC = Path(gameday.__file__).parent
OWNER = SRC / "runfolder.py"

# File names of a run: a string equal to one of these is a run file name wherever it is.
FILE_NAMES = {runfolder.TOKEN, runfolder.SPEC, runfolder.STATE, runfolder.RECORDING,
              runfolder.SLO_STATUS, runfolder.DRILL, runfolder.TIMELINE, runfolder.SCORE,
              runfolder.REPORT_MD, runfolder.REPORT_HTML, runfolder.POSTMORTEM,
              runfolder.REGISTRY_FILE, runfolder.SUPERVISOR_LOG}
# Folder names too common to ban outright: flagged when joined to a path (``x / "logs"``).
FOLDER_NAMES = {runfolder.RUNS_DIRNAME, runfolder.CURRENT_FILE, runfolder.LOGS_DIR,
                runfolder.FAULTS_DIR, runfolder.CONTROL_DIR, runfolder.CHAOS_DIR,
                runfolder.LOAD_DIR, runfolder.CHARTS_DIR, runfolder.PROMETHEUS_DIR,
                runfolder.ALERTMANAGER_DIR}

# Spellings allowed outside runfolder.py for now ("path relative to src/gameday:name" -> how
# many times): none left.
PENDING: dict[str, int] = {}
# A string that looks like a run file name but is something else.
NOT_RUN_FILES = {
    "traffic.py:token",  # a key of a streamed LLM event
}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) \
                and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            ids.add(id(body[0].value))
    return ids


def run_file_spellings(path: Path) -> list[tuple[int, str]]:
    """(line, name) of every run file or folder name spelled as a string in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = _docstrings(tree)
    joined = {id(n.right) for n in ast.walk(tree)
              if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) \
                or id(node) in skip:
            continue
        if node.value in FILE_NAMES or (node.value in FOLDER_NAMES and id(node) in joined):
            found.append((node.lineno, node.value))
    return found


def test_no_run_file_name_is_spelled_outside_the_run_folder_module():
    counts: dict[str, int] = {}
    where: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if path == OWNER:
            continue
        rel = path.relative_to(SRC).as_posix()
        for line, name in run_file_spellings(path):
            key = f"{rel}:{name}"
            if key in NOT_RUN_FILES:
                continue
            counts[key] = counts.get(key, 0) + 1
            where.setdefault(key, []).append(f"{rel}:{line}: {name!r}")
    extra = [w for key, n in counts.items() if n > PENDING.get(key, 0) for w in where[key]]
    assert not extra, ("run file names spelled outside gameday/runfolder.py (ask a "
                       "gameday.runfolder.Run for the path):\n" + "\n".join(extra))


def test_the_scan_sees_a_spelled_name_and_ignores_docstrings(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Writes score.json."""\n'
                      'def f(run):\n'
                      '    """Reads "drill.json"."""\n'
                      '    a = run / "score.json"\n'
                      '    b = run / "logs"\n'
                      '    c = {"logs": 1}\n'
                      '    return "drill.json", a, b, c\n')
    assert sorted(run_file_spellings(sample)) == [(4, "score.json"), (5, "logs"),
                                                  (7, "drill.json")]


def test_every_path_of_a_run_is_inside_its_folder(tmp_path):
    run = Run(tmp_path / "runs" / "20261203-000000-ab12")
    paths = [getattr(run, name) for name in dir(Run)
             if isinstance(getattr(Run, name), property) and name not in ("id", "home")]
    paths += [run.log_path("gateway", 0), run.faults_path("gateway", 0),
              run.chaos_journal("x"), run.chaos_log("x")]
    assert all(p.is_relative_to(run.path) and p != run.path for p in paths)
    assert len(set(paths)) == len(paths)
    assert run.id == "20261203-000000-ab12" and run.home == tmp_path


def test_read_json_notes_a_missing_file_and_names_a_bad_one(tmp_path):
    notes: list[str] = []
    assert read_json(tmp_path / "score.json", notes) is None
    assert notes == ["score.json: not in the run folder"]
    with pytest.raises(ValidationError, match=r"score\.json: not in the run folder"):
        read_json(tmp_path / "score.json")
    atomic_write(tmp_path / "score.json", "[1]")
    with pytest.raises(ValidationError, match=r"score\.json: expected a JSON object, got list"):
        read_json(tmp_path / "score.json", notes)
    atomic_write(tmp_path / "score.json", "{oops")
    with pytest.raises(ValidationError, match=r"score\.json: not readable JSON"):
        read_json(tmp_path / "score.json", notes)
    runfolder.write_json(tmp_path / "score.json", {"a": 1})
    assert read_json(tmp_path / "score.json") == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["score.json"]  # no temp file left


def test_resolve_run_names_a_missing_folder(tmp_path):
    with pytest.raises(NotFoundError, match="run folder .*nothing.* not found"):
        resolve_run(tmp_path / "nothing")
