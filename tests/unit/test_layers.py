"""Nothing below the command line imports it (issue 17; DESIGN.md "Lower layers never import
the CLI"): the CLI is the top layer, so chaos/, drill/, stack/... must work without it.

Read from the source (AST), imports inside functions included, so the test needs no import
side effects and an import hidden in a function still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
CLI = "gameday.cli"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path, src: Path = SRC) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``, relative imports made absolute."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path, src)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
            # ``from gameday import cli`` names the CLI package in the imported names
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


def cli_imports_below_the_cli(src: Path = SRC) -> list[str]:
    """One line per import of the CLI outside it: ``file:line: module imports what``."""
    bad = []
    for path in sorted((src / "gameday").rglob("*.py")):
        name = module_name(path, src)
        if name == CLI or name.startswith(CLI + "."):
            continue
        hits = {}
        for line, imported in imported_names(path, src):
            if imported == CLI or imported.startswith(CLI + "."):
                hits.setdefault(line, imported)
        bad += [f"{path.relative_to(src)}:{line}: {name} imports {hits[line]}"
                for line in sorted(hits)]
    return bad


def test_the_check_sees_every_import_form(tmp_path):
    pkg = tmp_path / "gameday" / "drill"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text("def f():\n    from gameday.cli.params import x\n"
                                "from ..cli import chaos\nimport gameday.cli.main\n"
                                "from gameday import cli\nfrom gameday import client\n")
    (tmp_path / "gameday" / "cli").mkdir()
    (tmp_path / "gameday" / "cli" / "main.py").write_text("from gameday.cli import params\n")
    bad = cli_imports_below_the_cli(tmp_path)
    assert [b.split(": ", 1)[0] for b in bad] == ["gameday/drill/bad.py:2",
                                                   "gameday/drill/bad.py:3",
                                                   "gameday/drill/bad.py:4",
                                                   "gameday/drill/bad.py:5"]


def test_no_module_below_the_cli_imports_it():
    bad = cli_imports_below_the_cli()
    assert bad == [], "modules below the CLI import it:\n" + "\n".join(bad)
