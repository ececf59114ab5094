"""promtool check rules and test rules on every generated file (slos/_gen/)."""

import subprocess
from pathlib import Path

import pytest

from gameday.slo.storage import generate
from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = ("google-30d", "drill-12h")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    generate(ROOT / "slos", out)
    return out


@pytest.mark.parametrize("catalog", CATALOGS)
def test_promtool_check_rules(generated, catalog):
    promtool = require_binary("promtool")
    files = sorted((generated / catalog).glob("*.rules.yml"))
    assert files
    result = subprocess.run([promtool, "check", "rules", *map(str, files)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("catalog", CATALOGS)
def test_promtool_test_rules(generated, catalog):
    promtool = require_binary("promtool")
    files = sorted((generated / catalog).glob("*.test.yml"))
    assert files
    procs = [subprocess.Popen([promtool, "test", "rules", str(f)], cwd=f.parent,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for f in files]
    failures = []
    for f, proc in zip(files, procs, strict=True):
        output, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(f"{f.name}:\n{output}")
    assert not failures, "\n".join(failures)
