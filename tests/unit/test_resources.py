"""Resources (gameday.resources): $GAMEDAY_HOME, then the working directory, then the
package's copy; a resource found nowhere is one error line naming where gameday looked;
``gameday init`` makes a workspace the other commands then read."""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gameday import resources
from gameday.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.delenv(resources.HOME_ENV, raising=False)
    monkeypatch.delenv(resources.LOADTESTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def nothing_shipped(monkeypatch):
    monkeypatch.setattr(resources, "shipped_root", lambda: None)


def invoke(*args):
    return runner.invoke(app, list(args))


def one_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def scenario_copy(folder: Path, name: str, title: str) -> None:
    body = json.loads((ROOT / "experiments" / "xid-error-burst.json").read_text())
    next(e for e in body["extensions"] if e.get("name") == "gameday")["title"] = title
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(body))


def listed() -> list[str]:
    result = invoke("drill", "list", "--json")
    assert result.exit_code == 0, result.output
    return [s["name"] for s in json.loads(result.stdout)]


def test_from_anywhere_the_shipped_copy_is_found(cwd):
    shipped = resources.shipped_root()
    assert shipped is not None and (shipped / "experiments").is_dir()
    assert resources.experiments_dir() == shipped / "experiments"
    assert resources.rules_dir("drill-12h") == shipped / "slos" / "_gen" / "drill-12h"
    assert len(listed()) == len(list((ROOT / "experiments").glob("*.json")))


def test_the_working_directory_wins_then_gameday_home_wins_over_it(cwd, tmp_path_factory,
                                                                      monkeypatch):
    scenario_copy(cwd / "experiments", "mine", "Mine")
    assert listed() == ["mine"]
    home = tmp_path_factory.mktemp("home")
    scenario_copy(home / "experiments", "theirs", "Theirs")
    monkeypatch.setenv(resources.HOME_ENV, str(home))
    assert listed() == ["theirs"]
    assert [r.origin for r in resources.roots()] == ["$GAMEDAY_HOME", "working directory",
                                                     "package"]


def test_an_empty_folder_does_not_hide_the_shipped_one(cwd):
    (cwd / "experiments").mkdir()
    (cwd / "loadtests").mkdir()
    assert resources.experiments_dir() == resources.shipped_root() / "experiments"
    assert resources.loadtests_dir() == resources.shipped_root() / "loadtests"


def test_found_nowhere_is_one_line_naming_where_gameday_looked_exit_2(cwd, nothing_shipped):
    (cwd / "experiments").mkdir()
    line = one_error(invoke("drill", "list"), 2)
    assert line == (f"error: no experiments found: no *.json in {cwd / 'experiments'} "
                    f"(working directory)")
    assert "no experiments found" in one_error(invoke("drill", "run", "cold-start"), 2)
    assert "no slos found: no *.yaml in" in one_error(invoke("slo", "validate"), 2)


def test_an_empty_scenarios_folder_given_is_an_error_not_an_empty_table(cwd):
    from gameday.drill.scenario import list_scenarios

    (cwd / "none").mkdir()
    with pytest.raises(resources.ValidationError, match=r"no scenarios: no \*\.json in .*none"):
        list_scenarios(cwd / "none")


def test_gameday_home_must_exist(cwd, monkeypatch):
    monkeypatch.setenv(resources.HOME_ENV, str(cwd / "nope"))
    line = one_error(invoke("drill", "list"), 2)
    assert line == f"error: $GAMEDAY_HOME: no such folder '{cwd / 'nope'}'"


def test_rules_catalogs_and_policies_come_from_the_specs_folder_in_use(cwd):
    shutil.copytree(ROOT / "slos", cwd / "slos", ignore=shutil.ignore_patterns("_gen"))
    assert resources.windows_dir() == cwd / "slos" / "windows"
    assert resources.policies_file() == cwd / "slos" / "policies.yaml"
    with pytest.raises(resources.MissingResourceError,
                       match=r"catalog 'drill-12h': no generated rules \(\*\.rules\.yml\) in "
                             r".*slos/_gen/drill-12h; run 'gameday slo generate'"):
        resources.rules_dir("drill-12h")
    result = invoke("slo", "generate", "--catalog", "drill-12h")
    assert result.exit_code == 0, result.output
    assert "wrote slos/_gen/drill-12h/gateway.rules.yml" in result.stdout
    assert resources.rules_dir("drill-12h") == cwd / "slos" / "_gen" / "drill-12h"


def test_slo_generate_never_writes_into_the_package(cwd):
    line = one_error(invoke("slo", "generate"), 2)
    assert line.startswith("error: no slos found: no *.yaml in ")
    assert line.endswith("(working directory); run 'gameday init' to make a workspace")


def test_gameday_loadtests_dir_still_names_a_loadtests_folder(cwd, monkeypatch):
    shutil.copytree(ROOT / "loadtests", cwd / "mine")
    monkeypatch.setenv(resources.LOADTESTS_ENV, str(cwd / "mine"))
    assert resources.loadtests_dir() == cwd / "mine"
    monkeypatch.setenv(resources.LOADTESTS_ENV, str(cwd))
    with pytest.raises(resources.MissingResourceError,
                       match=r"\$GAMEDAY_LOADTESTS_DIR: no gateway_users.py in "):
        resources.loadtests_dir()


def test_runbook_links_resolve_to_a_file_or_nothing(cwd):
    found = resources.find_file("runbooks/GatewayAvailabilityBudgetBurn.md")
    assert found is not None and found.is_file()
    assert resources.find_file("runbooks/Nope.md") is None
    assert resources.find_file("../etc/passwd") is None


def shipped_files() -> list[str]:
    out = []
    for folder in resources.WORKSPACE_FOLDERS:
        out += [str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts]
    return sorted(out)


def test_init_copies_the_editable_resources_and_the_commands_read_them(cwd):
    result = invoke("init", "ws")
    assert result.exit_code == 0, result.output
    files = shipped_files()
    wrote = re.findall(r"^wrote ws/(\S+)$", result.stdout, re.M)
    assert sorted(wrote) == files
    assert f"{len(files)} file(s) in ws" in result.stdout
    for rel in files:
        assert (cwd / "ws" / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    # the workspace is what gameday reads from there
    scenario_copy(cwd / "ws" / "experiments", "zz-mine", "Mine")
    again = invoke("init", "ws")
    assert again.exit_code == 0 and "already up to date, nothing written" in again.stdout
    os.chdir(cwd / "ws")
    assert "zz-mine" in listed()
    assert resources.rules_dir("drill-12h") == cwd / "ws" / "slos" / "_gen" / "drill-12h"


def test_init_refuses_to_overwrite_changed_files_unless_forced(cwd):
    assert invoke("init", "ws").exit_code == 0
    edited = cwd / "ws" / "slos" / "gateway.yaml"
    edited.write_text(edited.read_text() + "# mine\n")
    (cwd / "ws" / "runbooks" / "README.md").unlink()
    line = one_error(invoke("init", "ws"), 2)
    assert line == ("error: ws: 1 file(s) already exist with other content "
                    "(ws/slos/gateway.yaml); pass --force to overwrite them")
    assert not (cwd / "ws" / "runbooks" / "README.md").exists(), "wrote despite refusing"
    result = invoke("init", "ws", "--force")
    assert result.exit_code == 0, result.output
    assert sorted(re.findall(r"^wrote (\S+)$", result.stdout, re.M)) == \
        ["ws/runbooks/README.md", "ws/slos/gateway.yaml"]
    assert edited.read_bytes() == (ROOT / "slos" / "gateway.yaml").read_bytes()


def test_no_resource_is_found_by_climbing_out_of_the_source_tree():
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / "src" / "gameday").rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1) if "parents[" in line]
    assert hits == []


def test_pyproject_lists_every_package_and_every_resource_folder():
    """setuptools ships only what pyproject.toml lists: a new subpackage or resource
    subfolder left out would be missing from the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed_ = set(config["packages"])
    mapping = config["package-dir"]
    expected = set()
    assert mapping["gameday_services"] == "services"  # an import name no other package has
    for top, source in [("gameday", ROOT / "src" / "gameday"),
                        ("gameday_services", ROOT / "services")]:
        for init in source.rglob("*"):
            if init.is_dir() and "__pycache__" not in init.parts and any(init.iterdir()):
                expected.add(".".join([top, *init.relative_to(source).parts]))
        expected.add(top)
    for folder in resources.WORKSPACE_FOLDERS:
        name = f"gameday.{resources.SHIPPED_DIRNAME}.{folder}"
        assert mapping[name] == folder
        expected.add(name)
        for sub in (ROOT / folder).iterdir():
            if sub.is_dir() and sub.name.isidentifier() and sub.name != "__pycache__":
                expected.add(f"{name}.{sub.name}")
    assert sorted(expected - listed_) == []
