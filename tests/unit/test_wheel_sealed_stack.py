"""A wheel's stack keeps its fault store and the services' lines about faults sealed (outside
the run folder) until the stack stops, then reveals them into faults/ and logs/."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from gameday.drill.stacks import reveal_stack
from gameday.runfolder import create_run, sealed_fault_log, sealed_faults_path, sealed_stack_dir
from gameday.stack.plan import FAULTS_FILE_ENV, FAULTS_LOG_ENV, plan_processes
from gameday.stack.spec import build_spec


def test_a_sealed_stack_plans_its_fault_files_and_fault_log_outside_the_run_folder(tmp_path):
    run = create_run(tmp_path / ".gameday", make_current=False)
    plain = plan_processes(build_spec(free_ports=True), run)
    for p in plain:
        assert p.faults_path == run.faults_path(p.name, p.replica)
        assert p.env[FAULTS_FILE_ENV] == str(p.faults_path) and FAULTS_LOG_ENV not in p.env
    sealed = plan_processes(build_spec(free_ports=True, sets=["stack.sealed_faults=true"]),
                            run)
    for p in sealed:
        assert p.faults_path == sealed_faults_path(run, p.name, p.replica)
        assert p.env[FAULTS_LOG_ENV] == str(sealed_fault_log(run, p.name, p.replica))
        assert run.path not in p.faults_path.parents
        assert sealed_stack_dir(run) in p.faults_path.parents


SERVICE = """
import sys
from gameday.faults.catalog import types_for
from gameday.faults.model import FaultSpec
from gameday.faults.store import FaultStore
from gameday.telemetry import configure_logging

configure_logging("classifier", replica="0")
store = FaultStore(types_for("classifier"), sys.argv[1])
store.add(FaultSpec(type="error", params={}, ttl_s=60))
print("ready", flush=True)
"""


def test_the_fault_log_lines_go_to_the_sealed_file_only(tmp_path):
    run = create_run(tmp_path / ".gameday", make_current=False)
    store_file = sealed_faults_path(run, "classifier", 0)
    log_file = sealed_fault_log(run, "classifier", 0)
    env = {**os.environ, FAULTS_LOG_ENV: str(log_file)}
    result = subprocess.run([sys.executable, "-c", SERVICE, str(store_file)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "fault added" not in result.stderr and "error" not in result.stderr
    line = json.loads(log_file.read_text().splitlines()[0])
    assert line["msg"] == "fault added" and line["fault_type"] == "error"
    assert line["service"] == "classifier"  # the service's own JSON format
    assert json.loads(store_file.read_text())["faults"][0]["type"] == "error"
    for folder in (store_file.parent, log_file.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert not list(run.faults_dir.iterdir())  # nothing in the run folder meanwhile

    assert reveal_stack(run.path) == 2
    assert json.loads((run.faults_dir / store_file.name).read_text())["faults"]
    assert "fault added" in (run.logs_dir / log_file.name).read_text()
    assert not sealed_stack_dir(run).exists() and not sealed_stack_dir(run).parent.exists()
    assert reveal_stack(run.path) == 0  # nothing left: nothing to do
