"""The package works installed: build the wheel, install it in a fresh venv, and from an
empty folder list every scenario, validate every SLO, pass ``gameday demo`` (one whole
drill) and show every SLO in ``gameday slo status``, without a path to the checkout.

The venv gets only the wheel; its dependencies come from the test's own environment through
a .pth line (no network, no second install of everything). That environment's editable
install of gameday is not picked up: a .pth line adds a folder to sys.path but does not run
the .pth files inside it, and gameday itself lives in the checkout, not in that folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "src", "services", "experiments",
                "slos", "runbooks", "loadtests", "recordings")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", ".*")


def run(cmd, cwd: Path, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd}: exit {result.returncode}\n{result.stdout}\n" \
                                   f"{result.stderr}"
    return result


def build_wheel(tmp: Path) -> Path:
    """The wheel built from a copy of the checkout (the build writes build/ and egg-info
    into its source folder: not into the shared checkout)."""
    src = tmp / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=IGNORE)
        elif path.is_file():
            shutil.copy2(path, src / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", tmp / "dist",
         src], tmp)
    (wheel,) = (tmp / "dist").glob("gameday-*.whl")
    return wheel


def make_venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
         "--no-index", wheel], tmp)
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    tmp).stdout.strip())
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    (site / "zz_test_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    # `chaos` beside the venv's python, as its console script would be
    (chaos,) = metadata.entry_points(group="console_scripts", name="chaos")
    module, _, func = chaos.value.partition(":")
    script = venv / "bin" / "chaos"
    script.write_text(f"#!{python}\nimport sys\nfrom {module} import {func}\n"
                      f"sys.exit({func}())\n")
    script.chmod(0o755)
    return venv


@pytest.mark.slow
@pytest.mark.long  # make test-long (CI runs it): 85 s that make test cannot spare
@pytest.mark.timeout(900)
def test_the_installed_wheel_runs_the_demo_from_an_empty_folder(tmp_path):
    from gameday.slo.validate import collect_slos

    wheel = build_wheel(tmp_path)
    venv = make_venv(tmp_path, wheel)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GAMEDAY_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    gameday = venv / "bin" / "gameday"

    where = run([venv / "bin" / "python", "-c", "import gameday, gameday_services, "
                 "gameday.resources as r; print(gameday.__file__, gameday_services.__file__, "
                 "r.shipped_root())"], empty, env).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where
    # no generic top-level name that another distribution could also install
    with zipfile.ZipFile(wheel) as zf:
        tops = {n.split("/", 1)[0] for n in zf.namelist() if "/" in n}
    assert sorted(t for t in tops if not t.endswith(".dist-info")) == \
        ["gameday", "gameday_services"]
    found = run([venv / "bin" / "python", "-c", "import importlib.util as u; "
                 "print(u.find_spec('services'))"], empty, env).stdout.strip()
    assert found == "None", found

    scenarios = json.loads(run([gameday, "drill", "list", "--json"], empty, env).stdout)
    assert sorted(s["name"] for s in scenarios) == \
        sorted(p.stem for p in (ROOT / "experiments").glob("*.json"))

    names = sorted(s.name for s in collect_slos([ROOT / "slos"])[0])
    assert len(names) >= 5
    validated = run([gameday, "slo", "validate"], empty, env).stdout
    assert validated.strip() == f"ok: {len(names)} SLO(s): {', '.join(names)}"

    # the shipped recordings, by name, and a backtest on one (issue 19 item 6)
    info = run([gameday, "recording", "info", "kv-cache-exhaustion"], empty, env).stdout
    assert "_resources/recordings/kv-cache-exhaustion.jsonl.gz" in info, info
    backtest = run([gameday, "slo", "backtest", "--from", "kv-cache-exhaustion", "--quiet"],
                   empty, env, timeout=300).stdout
    assert "llm-llm-time-to-first-token" in backtest and "incident 1" in backtest, backtest

    demo = run([gameday, "demo"], empty, env, timeout=600)
    assert "verdict: pass" in demo.stdout, demo.stdout[-3000:]

    status = json.loads(run([gameday, "slo", "status", "--json"], empty, env).stdout)
    assert sorted(s["slo"] for s in status["slos"]) == names
    assert Path(status["rules"]).is_relative_to(venv / "lib"), status["rules"]
    (run_dir,) = (empty / ".gameday" / "runs").iterdir()
    for name in ("drill.json", "stack.json", "report.md", "postmortem.md"):
        text = (run_dir / name).read_text()
        assert str(ROOT) not in text, f"{name} names the checkout"
    assert "_resources/runbooks/" in (run_dir / "report.md").read_text()
    assert not (empty / "experiments").exists(), "the demo wrote resources into the cwd"

    # a workspace from the installed copy, then read from there
    init = run([gameday, "init", "ws"], empty, env).stdout
    assert "wrote ws/experiments/cold-start.json" in init
    listed = json.loads(run([gameday, "drill", "list", "--json"], empty / "ws", env).stdout)
    assert len(listed) == len(scenarios)
