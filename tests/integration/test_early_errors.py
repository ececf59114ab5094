"""Bad input is refused at once, through the real ``gameday`` command: exit 2 (1 for a
folder that cannot be written), one line on stderr naming the file, field and value, no
traceback, and nothing written: no run folder, no half-written output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
GAMEDAY = Path(sys.executable).parent / "gameday"


def gameday(cwd: Path, *args: str, prefix: tuple[str, ...] = (), env: dict | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    argv = [str(GAMEDAY)] if GAMEDAY.exists() else [sys.executable, "-m", "gameday.cli.main"]
    return subprocess.run([*prefix, *argv, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def refused(result: subprocess.CompletedProcess, code: int, text: str) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert text in lines[0], lines[0]
    return lines[0]


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"")
            for p in sorted(folder.rglob("*"))}


# -- stack settings: refused before any process or run folder ------------------------------
@pytest.mark.parametrize("value, text", [
    ("gateway.retry.max_attempts=abc", "--set gateway.retry.max_attempts: Input should be a "
                                       "valid integer, unable to parse string as an integer, "
                                       "got 'abc'"),
    ("classifier.load_time_s=nan", "--set classifier.load_time_s: Input should be greater "
                                   "than or equal to 0, got 'nan'"),
    ("llm.kv_slots=-1", "--set llm.kv_slots: Input should be greater than or equal to 1, "
                        "got '-1'"),
    ("gateway.log_level=\udcff", "--set gateway.log_level: not valid Unicode text"),  # \xff
])
def test_up_refuses_bad_service_settings_at_once(tmp_path, value, text):
    t0 = time.monotonic()
    refused(gameday(tmp_path, "up", "--detach", "--free-ports", "--set", value), 2, text)
    assert time.monotonic() - t0 < 15  # not the 30 s readiness deadline
    assert not (tmp_path / ".gameday").exists(), "a run folder was made for bad input"


def test_up_refuses_a_db_path_that_is_not_a_feature_store(tmp_path):
    mine = tmp_path / "notes.db"
    mine.write_text("the user's own file\n")
    refused(gameday(tmp_path, "up", "--detach", "--free-ports", "--set",
                    f"features.db_path={mine}"), 2,
            f"--set features.db_path: {mine} exists and is not a feature store gameday made "
            f"(no gameday_feature_store table); choose another path, or set "
            f"features.db_force=true to replace it")
    assert mine.read_text() == "the user's own file\n"
    assert not (tmp_path / ".gameday").exists()


def test_up_refuses_a_base_port_out_of_range(tmp_path):
    refused(gameday(tmp_path, "up", "--detach", "--base-port", "70000"), 2,
            "--base-port: 70000 leaves no room for 5 ports below 65536")
    refused(gameday(tmp_path, "up", "--detach", "--base-port", "80"), 2,
            "--base-port: must be 1024 or above (unprivileged), got 80")
    assert not (tmp_path / ".gameday").exists()


# -- drills ----------------------------------------------------------------------------
def scenario_with(tmp_path: Path, name: str, edit, replace: tuple[str, str] = ("", "")) \
        -> Path:
    experiment = json.loads((ROOT / "experiments" / "slow-feature-store.json").read_text())
    block = next(e for e in experiment["extensions"] if e.get("name") == "gameday")
    edit(experiment, block)
    path = tmp_path / name
    path.write_text(json.dumps(experiment).replace(*replace))
    return path


def test_drill_attach_to_no_such_run(tmp_path):
    refused(gameday(tmp_path, "drill", "run", "slow-feature-store", "--auto", "--attach",
                    "nosuch"), 2, "--attach: no run 'nosuch' in .gameday/runs (running: none)")
    assert not (tmp_path / ".gameday").exists()


def test_drill_refuses_a_scenario_s_bad_settings_before_its_stack(tmp_path):
    scenario_with(tmp_path, "mine.json", lambda exp, block: block.setdefault(
        "stack", {}).setdefault("sets", []).append("llm.kv_slots=-1"))
    t0 = time.monotonic()
    refused(gameday(tmp_path, "drill", "run", "mine.json", "--auto"), 2,
            "--set llm.kv_slots: Input should be greater than or equal to 1, got '-1'")
    assert time.monotonic() - t0 < 15
    assert not (tmp_path / ".gameday").exists()


def test_drill_refuses_hostile_scenario_files(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    scenario_with(tmp_path, "surrogate.json",
                  lambda exp, block: block.update(briefing="\ud800"))
    scenario_with(tmp_path, "digits.json", lambda exp, block: block.update(
        expected={"detect_within_s": 424242}), replace=("424242", "9" * 5000))
    for name, text in [
        ("deep.json", "deep.json: not valid JSON: nested too deeply (more than 64 levels"),
        ("surrogate.json", "surrogate.json: extensions[0].briefing: not valid Unicode text"),
        ("digits.json", "digits.json: not valid JSON: a number of 5000 digits, got "
                        "99999999999999999...9999"),
    ]:
        refused(gameday(tmp_path, "drill", "run", name, "--auto"), 2, text)
        refused(gameday(tmp_path, "drill", "show", name), 2, text)
    assert not (tmp_path / ".gameday").exists()


def test_drill_refuses_hostile_stack_files(tmp_path):
    (tmp_path / "big.yaml").write_text('services:\n  gateway: ["http://127.0.0.1:1"]\n'
                                       f"replicas: {'9' * 5000}\n")
    (tmp_path / "deep.yaml").write_text("services: " + "[" * 100_000)
    for name, text in [("big.yaml", "big.yaml: document 1: replicas: number too long (5000 "
                                    "characters), got 99999999999999999...9999"),
                       ("deep.yaml", "deep.yaml: not valid YAML: nested too deeply"),
                       ("/dev/zero", "/dev/zero: not a regular file; a stack file is a file")]:
        refused(gameday(tmp_path, "drill", "run", "slow-feature-store", "--auto",
                        "--stack-file", name), 2, text)
    assert not (tmp_path / ".gameday").exists()


# -- SLO specs ---------------------------------------------------------------------------
@pytest.fixture
def slos(tmp_path):
    shutil.copytree(ROOT / "slos", tmp_path / "slos", ignore=shutil.ignore_patterns("_gen"))
    return tmp_path / "slos"


def test_slo_file_with_a_5000_digit_number(tmp_path, slos):
    path = slos / "features.yaml"
    path.write_text(path.read_text().replace("target: 0.999", "target: " + "9" * 5000, 1))
    line = refused(gameday(tmp_path, "slo", "validate", "slos"), 2,
                   "slos/features.yaml: document 2: spec.objectives[0].target: number too "
                   "long (5000 characters), got 99999999999999999...9999")
    assert len(line) < 200


def test_window_catalog_and_sloth_spec_with_a_5000_digit_number(tmp_path, slos):
    catalog = slos / "windows" / "drill-12h.yaml"
    catalog.write_text(catalog.read_text().replace("budget_fraction: 0.02",
                                                   "budget_fraction: " + "2" * 5000, 1))
    refused(gameday(tmp_path, "slo", "validate", "slos"), 2,
            "slos/windows/drill-12h.yaml: document 1: alerts[0].budget_fraction: number too "
            "long (5000 characters), got 22222222222222222...2222")
    sloth = ROOT / "tests" / "fixtures" / "sloth" / "getting-started.yml"
    text = sloth.read_text()
    assert "objective: 99.9" in text
    (tmp_path / "big.yml").write_text(text.replace("objective: 99.9", "objective: " + "9" * 5000))
    refused(gameday(tmp_path, "slo", "import-sloth", "big.yml"), 2,
            "big.yml: document 1: slos[0].objective: number too long (5000 characters)")
    (tmp_path / "out").mkdir()
    refused(gameday(tmp_path, "slo", "import-sloth", str(sloth), "--out", "out", "--force"), 2,
            "out: is a directory; give a file path for the OpenSLO spec")
    assert list((tmp_path / "out").iterdir()) == []


def test_validate_refuses_a_nan_target_as_generate_does(tmp_path, slos):
    path = slos / "features.yaml"
    path.write_text(path.read_text().replace("target: 0.999", "target: .nan", 1))
    text = ("slos/features.yaml: slo 'features-availability': objectives[0].target must be a "
            "finite number, got nan")
    refused(gameday(tmp_path, "slo", "validate", "slos"), 2, text)
    refused(gameday(tmp_path, "slo", "generate", "--specs", "slos"), 2, text)
    assert not (slos / "_gen").exists()


# -- outputs: report, postmortem -----------------------------------------------------------
def make_run(folder: Path) -> Path:
    from tests.unit.test_report_support import make_run as make_report_run

    folder.mkdir(parents=True, exist_ok=True)
    return make_report_run(folder)


def test_postmortem_out_is_a_directory(tmp_path):
    run = make_run(tmp_path / "runs")
    out = tmp_path / "drafts"
    out.mkdir()
    (out / "keep.md").write_text("people's notes\n")
    before = listing(tmp_path)
    refused(gameday(tmp_path, "postmortem", "new", "--run", str(run), "--force", "--out",
                    str(out)), 2,
            f"{out}: is a directory; give a file path for the postmortem draft")
    assert listing(tmp_path) == before  # no temp file left beside it
    refused(gameday(tmp_path, "postmortem", "new", "--run", str(run), "--force", "--out",
                    "/dev/null"), 2, "/dev/null: not a regular file")


def test_postmortem_template_that_is_not_text(tmp_path):
    run = make_run(tmp_path / "runs")
    bad = tmp_path / "latin1.md.j2"
    bad.write_bytes(b"caf\xe9 {{ run_id }}\n")
    refused(gameday(tmp_path, "postmortem", "new", "--run", str(run), "--template", str(bad)),
            2, f"{bad}: not UTF-8 text (bad byte at offset 3)")
    assert not (run / "postmortem.md").exists()


def test_report_with_a_directory_in_the_way(tmp_path):
    run = make_run(tmp_path / "runs")
    (run / "report.html").mkdir()
    before = listing(run)
    refused(gameday(tmp_path, "report", str(run)), 2,
            f"{run / 'report.html'}: not a regular file; the report writes its report.html "
            f"there: move it away first")
    assert listing(run) == before


def test_postmortem_lint_refuses_devices_at_once(tmp_path):
    t0 = time.monotonic()
    refused(gameday(tmp_path, "postmortem", "lint", "/dev/zero"), 2,
            "/dev/zero: not a regular file")
    assert time.monotonic() - t0 < 15


@pytest.fixture
def unprivileged():
    """argv prefix and a world-readable scratch folder for a user who cannot write where
    the folder's mode says so (root can: run as nobody through setpriv)."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: a read-only folder is writable")
        prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
    folder = Path(tempfile.mkdtemp(prefix="gameday-ro-"))
    folder.chmod(0o755)
    env = {**os.environ, "HOME": str(folder), "MPLCONFIGDIR": str(folder / ".mpl")}
    try:
        yield prefix, folder, env
    finally:
        for p in [folder, *folder.rglob("*")]:
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


def test_report_and_postmortem_on_a_read_only_run_folder(unprivileged):
    prefix, folder, env = unprivileged
    (folder / ".mpl").mkdir(mode=0o777)
    (folder / ".mpl").chmod(0o777)
    run = make_run(folder / "runs")
    for p in [folder / "runs", *(folder / "runs").rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    before = listing(run)
    refused(gameday(folder, "report", str(run), prefix=prefix, env=env), 1,
            f"{run}: read-only folder, cannot write the report there")
    refused(gameday(folder, "postmortem", "new", "--run", str(run), prefix=prefix, env=env), 1,
            f"{run}: read-only folder, cannot write the postmortem draft there")
    assert listing(run) == before


# -- the last line of defence ------------------------------------------------------------
def test_an_os_error_that_gets_through_is_one_line_naming_the_path(tmp_path):
    from gameday.cli.errors import wrap_commands

    app = typer.Typer()

    @app.command()
    def write(path: Path) -> None:
        os.replace(tmp_path / "missing", path)

    @app.command()
    def other() -> None:
        raise IsADirectoryError(21, "Is a directory", str(tmp_path))

    wrap_commands(app)
    runner = CliRunner()
    result = runner.invoke(app, ["write", str(tmp_path / "x")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == (f"error: {tmp_path / 'missing'} -> {tmp_path / 'x'}: "
                                     f"No such file or directory")
    result = runner.invoke(app, ["other"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path}: Is a directory"
