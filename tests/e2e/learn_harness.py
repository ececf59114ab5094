"""The harness of tests/e2e/test_learn_docs.py: the docs/learn pages' commands, run as a
learner would type them.

Each page runs in a fresh workspace (``gameday init``) with its own $HOME: every ``$ `` line
of its ``console`` blocks runs with bash, in order, with the real ``gameday`` of this
virtualenv first on PATH. ``export`` and ``cd`` lines are kept and replayed before the next
commands of the same terminal (a block's ``terminal=NAME``; each terminal has its own
folder). A line ending in ``# exit N`` must exit N; ``# repeat until accepted`` is retried
until it exits 0. A ``markdown NAME`` block is a file the page asks to save: it is written
into the workspace before the commands run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEARN = ROOT / "docs" / "learn"
PAGES = sorted(LEARN.glob("*.md"))
EXERCISES = [p for p in PAGES if p.name != "README.md"]
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
EXIT = re.compile(r"#\s*exit (\d+)\s*$")
REPEAT = "# repeat until accepted"
EXAMPLE_URL = "http://127.0.0.1:41234"  # the URL exercise 5 shows for the drill's


@dataclass
class Command:
    page: str
    line: int
    text: str
    terminal: str = "main"
    expect: int = 0
    repeat: bool = False

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: $ {self.text}"


def blocks(path: Path) -> list[tuple[str, dict, str, int]]:
    """(language, attributes, body, line) of each fenced block."""
    text = path.read_text()
    found = []
    for m in FENCE.finditer(text):
        words = m.group(1).split()
        lang = words[0] if words else ""
        attrs = dict(w.split("=", 1) if "=" in w else ("file", w) for w in words[1:])
        found.append((lang, attrs, m.group(2), text[:m.start()].count("\n") + 2))
    return found


def commands(path: Path) -> list[Command]:
    """The ``$ `` lines of the page's console blocks, in order (``\\`` continues a line)."""
    out = []
    for lang, attrs, body, first in blocks(path):
        if lang != "console":
            continue
        pending: Command | None = None
        for offset, line in enumerate(body.splitlines()):
            if pending is not None:
                pending.text += "\n" + line
            elif line.startswith("$ "):
                pending = Command(path.name, first + offset, line[2:],
                                  attrs.get("terminal", "main"))
            else:
                continue
            if pending.text.endswith("\\"):
                continue
            exit_ = EXIT.search(pending.text)
            pending.expect = int(exit_.group(1)) if exit_ else 0
            pending.repeat = pending.text.rstrip().endswith(REPEAT)
            out.append(pending)
            pending = None
    return out


def saved_files(path: Path) -> dict[str, str]:
    return {attrs["file"]: body for lang, attrs, body, _ in blocks(path)
            if lang == "markdown" and "file" in attrs}


def section(path: Path, title: str) -> str:
    text = path.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMEDAY_")}
    home.mkdir(parents=True, exist_ok=True)
    return {**env, "HOME": str(home), "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "COLUMNS": "200", "NO_COLOR": "1"}


class Session:
    """The terminals of one page: a folder each (``main`` is the workspace), the ``export``
    and ``cd`` lines typed so far, and what every command printed."""

    def __init__(self, tmp: Path, page: Path) -> None:
        self.tmp, self.page = tmp, page
        self.env = clean_env(tmp / "home")
        self.ws = tmp / "ws"
        init = subprocess.run(["gameday", "init", str(self.ws)], env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert init.returncode == 0, init.stdout + init.stderr
        for name, body in saved_files(page).items():
            (self.ws / name).write_text(body)
        self.folders = {"main": self.ws}
        self.state: dict[str, list[str]] = {}
        self.outputs: dict[str, str] = {}
        self.stdouts: dict[str, str] = {}
        self.replace: dict[str, str] = {}

    def folder(self, terminal: str) -> Path:
        if terminal not in self.folders:
            self.folders[terminal] = self.tmp / terminal
            self.folders[terminal].mkdir()
        return self.folders[terminal]

    def script(self, cmd: Command) -> str:
        text = cmd.text
        for old, new in self.replace.items():
            text = text.replace(old, new)
        return "\n".join([*self.state.get(cmd.terminal, []), text])

    def run(self, cmd: Command, timeout: float = 300) -> subprocess.CompletedProcess:
        deadline = time.monotonic() + (180 if cmd.repeat else 0)
        while True:
            result = subprocess.run(["bash", "-c", self.script(cmd)],
                                    cwd=self.folder(cmd.terminal), env=self.env,
                                    capture_output=True, text=True, timeout=timeout)
            if not cmd.repeat or result.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert result.returncode == cmd.expect, (
            f"{cmd}: exit {result.returncode}, expected {cmd.expect}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        if cmd.text.startswith(("export ", "cd ")):
            self.state.setdefault(cmd.terminal, []).append(self.script(cmd).splitlines()[-1])
        self.outputs[cmd.text] = result.stdout + result.stderr
        self.stdouts[cmd.text] = result.stdout
        return result

    def run_all(self, cmds: list[Command]) -> None:
        for cmd in cmds:
            self.run(cmd)

    def output(self, needle: str) -> str:
        """What the (first) command containing ``needle`` printed."""
        return next(out for text, out in self.outputs.items() if needle in text)

    def current_run(self) -> Path:
        runs = self.ws / ".gameday" / "runs"
        return runs / (self.ws / ".gameday" / "current").read_text().strip()


def page(name: str) -> Path:
    return LEARN / name


def is_drill(cmd: Command) -> bool:
    return any(w in cmd.text for w in ("gameday drill run", "gameday demo", "gameday up",
                                       "gameday load", "gameday down"))
