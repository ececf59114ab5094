"""The supervisor on real processes: a stdlib stand-in service, then the real stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from gameday.errors import StackError
from gameday.stack import Stack, launch_detached, stop_stack
from gameday.stack.control import pause_process, request_restart, resume_process
from gameday.stack.events import read_events
from gameday.stack.health import probe_ready
from gameday.stack.process import pid_alive
from gameday.stack.spec import ServiceSpec, StackSettings, StackSpec
from gameday.stack.state import read_state
from tests.procs import ROOT

DUMMY = str(Path(__file__).with_name("dummy_service.py"))
SERVICES = ("features", "classifier", "llm", "gateway")
MISSING = [n for n in SERVICES if not (ROOT / "services" / n / "__main__.py").exists()]


def dummy(name: str, **kw) -> ServiceSpec:
    return ServiceSpec(name=name, command=[sys.executable, DUMMY, "--name", name], **kw)


def dummy_spec(alpha_env: dict | None = None, **settings) -> StackSpec:
    return StackSpec(
        services=[dummy("alpha", replicas=2, max_replicas=4, settings=alpha_env or {}),
                  dummy("beta", upstreams={"BETA_ALPHA_URLS": "alpha"})],
        free_ports=True,
        settings=StackSettings(**{"backoff_initial_s": 0.2, "ready_timeout_s": 10,
                                  "stop_grace_s": 2, **settings}),
    )


def wait_gone(pids, timeout=5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if pid_alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


# -- the supervisor, on the stand-in service -------------------------------------------------
def test_start_wires_env_and_stop_ends_everything(tmp_path):
    with Stack(dummy_spec(), home=tmp_path / ".gameday") as stack:
        state = stack.state()
        assert state.status == "running"
        assert [p.id for p in state.processes] == ["alpha-0", "alpha-1", "beta-0"]
        assert all(p.state == "ready" for p in state.processes)
        env = httpx.get(stack.url("beta") + "/env").json()
        assert env["BETA_ALPHA_URLS"] == f"{stack.url('alpha', 0)},{stack.url('alpha', 1)}"
        assert env["BETA_REPLICA"] == "0"
        assert env["GAMEDAY_ADMIN_TOKEN_FILE"] == str(stack.run.token_path)
        assert env["GAMEDAY_FAULTS_FILE"] == str(stack.run.faults_dir / "beta-0.json")
        assert read_state(stack.run.state_path) == state
        pids = [p.pid for p in state.processes]
    final = read_state(stack.run.state_path)
    assert final.status == "stopped"
    assert {p.state for p in final.processes} == {"stopped"}
    assert wait_gone(pids, 1) == []
    assert (stack.run.logs_dir / "alpha-1.log").read_text().count("listening") == 1


def test_sigkill_restarts_with_backoff_and_counts(tmp_path):
    with Stack(dummy_spec(), home=tmp_path / ".gameday") as stack:
        old = stack.kill("alpha", 1)
        proc = stack.wait_for("alpha", 1, lambda p: p.restarts == 1 and p.state == "ready", 10)
        assert proc.pid != old
        assert (proc.last_exit_code, proc.last_exit_reason) == (137, "Killed (SIGKILL)")
        assert stack.process("alpha", 0).restarts == 0
        events = read_events(stack.run.supervisor_log)
        assert {"event": "backoff", "process": "alpha-1", "delay_s": 0.2, "crashes": 1}.items() \
            <= next(e for e in events if e["event"] == "backoff").items()
        assert stack.run.log_path("alpha", 1).read_text().count("listening") == 2


def test_crash_loop_backs_off_exponentially_then_recovers(tmp_path):
    spec = dummy_spec({"crash_starts": "3"})
    with Stack(spec, home=tmp_path / ".gameday") as stack:
        for r in (0, 1):
            p = stack.process("alpha", r)
            assert p.state == "ready" and p.restarts == 3
            assert (p.last_exit_code, p.last_exit_reason) == (3, "Error")
        delays = [e["delay_s"] for e in read_events(stack.run.supervisor_log)
                  if e["event"] == "backoff" and e["process"] == "alpha-0"]
        assert delays == [0.2, 0.4, 0.8]


def test_memory_limit_kills_as_oomkilled(tmp_path):
    spec = dummy_spec()
    spec.services[0].memory_limit_mb = 60
    with Stack(spec, home=tmp_path / ".gameday") as stack:
        try:
            httpx.post(stack.url("alpha", 0) + "/leak?mb=120", timeout=10)
        except httpx.HTTPError:
            pass  # killed while answering: that is the point
        p = stack.wait_for("alpha", 0, lambda p: p.restarts == 1 and p.state == "ready", 10)
        assert (p.last_exit_code, p.last_exit_reason) == (137, "OOMKilled")
        assert any(e["event"] == "oom_kill" and e["limit_mb"] == 60
                   for e in read_events(stack.run.supervisor_log))


def test_not_ready_in_time_names_the_process_and_its_log(tmp_path):
    stack = Stack(dummy_spec({"load_time_s": "60"}, ready_timeout_s=1),
                  home=tmp_path / ".gameday")
    with pytest.raises(StackError) as err:
        stack.start()
    msg = str(err.value)
    assert msg.startswith("alpha-0 not ready on http://127.0.0.1:")
    assert "/readyz after 1 s (state starting); log: " in msg
    assert str(stack.run.log_path("alpha", 0)) in msg
    assert "also not ready: alpha-1" in msg
    final = read_state(stack.run.state_path)
    assert final.status == "failed" and final.error == msg
    assert {p.state for p in final.processes} == {"stopped"}


def test_pause_resume_and_restart_through_the_run_folder(tmp_path):
    with Stack(dummy_spec(), home=tmp_path / ".gameday") as stack:
        url = stack.url("alpha", 1)
        pause_process("alpha", 1, run=stack.run)
        assert not probe_ready(url, timeout=0.3)
        resume_process("alpha", 1, run=stack.run)
        assert probe_ready(url, timeout=2)
        before = stack.process("alpha", 1).pid
        p = request_restart("alpha", 1, run=stack.run, timeout=10)
        assert p.pid != before and p.restarts == 1 and p.last_exit_reason == "RestartRequested"
        pause_process("alpha", 0, run=stack.run)  # stop must still end a paused process
        pids = [q.pid for q in stack.state().processes]
    assert wait_gone(pids, 1) == []


def test_detached_supervisor_stops_on_request(tmp_path):
    run, state = launch_detached(dummy_spec(), home=tmp_path / ".gameday")
    pids = [p.pid for p in state.processes] + [state.supervisor_pid]
    try:
        assert state.status == "running" and len(state.processes) == 3
        final = stop_stack(run)
        assert final.status == "stopped"
        assert {p.last_exit_reason for p in final.processes} == {"Stopped"}
        assert wait_gone(pids, 2) == []
        assert stop_stack(run) is None  # nothing running any more
    finally:
        for pid in pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sigkilled_supervisor_takes_its_children(tmp_path):
    run, state = launch_detached(dummy_spec(), home=tmp_path / ".gameday")
    pids = [p.pid for p in state.processes]
    os.kill(state.supervisor_pid, signal.SIGKILL)
    assert wait_gone(pids, 3) == []


def test_in_process_stack_children_die_with_the_process(tmp_path):
    """The supervisor thread spawns the children: killing the process kills them too."""
    script = textwrap.dedent(f"""
        import json, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from tests.integration.test_stack import dummy_spec
        from gameday.stack import Stack
        stack = Stack(dummy_spec(), home=__import__("pathlib").Path({str(tmp_path)!r}))
        stack.start()
        print(json.dumps([p.pid for p in stack.state().processes]), flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(proc.stdout.readline())
        assert len(pids) == 3 and all(pid_alive(p) for p in pids)
        proc.kill()
        proc.wait()
        assert wait_gone(pids, 3) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- the real stack, through the CLI ---------------------------------------------------------
needs_services = pytest.mark.skipif(
    bool(MISSING), reason=f"services not written yet: no services/<name>/__main__.py for "
                          f"{', '.join(MISSING)}")


def gameday(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gameday.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def status_json(cwd: Path) -> dict:
    result = gameday(cwd, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def start_real_stack(cwd: Path) -> tuple[dict, float]:
    t0 = time.monotonic()
    result = gameday(cwd, "up", "--detach", "--free-ports")
    took = time.monotonic() - t0
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"\ngameday up --detach: 5 processes ready in {took:.2f} s "
          f"({result.stdout.splitlines()[0]})")
    return status_json(cwd), took


def cleanup(cwd: Path, data: dict) -> None:
    gameday(cwd, "down")
    for pid in [data["supervisor_pid"]] + [p["pid"] for p in data["processes"] if p["pid"]]:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def real_stack(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("real-stack")
    data, took = start_real_stack(cwd)
    yield cwd, data, took
    cleanup(cwd, data)


@needs_services
def test_real_up_brings_five_processes_to_ready_fast(real_stack):
    cwd, data, took = real_stack
    # The < 10 s target is measured by bench/bench_stack_startup.py, not asserted here.
    assert [p["name"] for p in data["processes"]] == \
        ["features", "classifier", "classifier", "llm", "gateway"]
    assert all(p["state"] == "ready" and p["ready"] for p in data["processes"])
    assert data["supervisor_alive"] and data["status"] == "running"
    table = gameday(cwd, "status")
    assert table.returncode == 0
    for pid in ("features-0", "classifier-0", "classifier-1", "llm-0", "gateway-0"):
        assert pid in table.stdout


@needs_services
def test_real_faults_cli(real_stack):
    cwd, _, _ = real_stack
    added = gameday(cwd, "faults", "add", "classifier", "latency", "--param", "delay_ms=5",
                    "--ttl", "30s", "--replica", "0")
    assert added.returncode == 0, added.stderr
    assert "added latency fault" in added.stdout and "classifier-0" in added.stdout
    listed = json.loads(gameday(cwd, "faults", "list", "classifier", "--json").stdout)
    assert [len(x["faults"]) for x in listed] == [1, 0]
    bad = gameday(cwd, "faults", "add", "classifier", "latency", "--param", "delay_ms=-5",
                  "--ttl", "30s")
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("error: --param: fault 'latency' params: field "
                                  "'delay_ms': Input should be greater than or equal to 0, "
                                  "got -5")  # checked before any service is called
    cleared = gameday(cwd, "faults", "clear")
    assert cleared.returncode == 0 and "cleared 1 fault(s)" in cleared.stdout


@needs_services
def test_real_sigkill_of_a_classifier_replica(real_stack):
    cwd, data, _ = real_stack
    gateway = next(p["url"] for p in data["processes"] if p["name"] == "gateway")
    other = next(p["url"] for p in data["processes"] if p["name"] == "classifier"
                 and p["replica"] == 0)
    victim = next(p for p in data["processes"] if p["name"] == "classifier"
                  and p["replica"] == 1)
    os.kill(victim["pid"], signal.SIGKILL)
    answers, deadline = [], time.monotonic() + 20
    while time.monotonic() < deadline:
        r = httpx.post(gateway + "/v1/classify", json={"entity_id": "e0001"}, timeout=5)
        answers.append((r.status_code, r.json().get("replica")))
        now = status_json(cwd)["processes"][2]
        if now["restarts"] == 1 and now["state"] == "ready" and len(answers) >= 5:
            break
        time.sleep(0.1)
    assert now["restarts"] == 1 and now["state"] == "ready", now
    assert now["pid"] != victim["pid"]
    assert (now["last_exit_code"], now["last_exit_reason"]) == (137, "Killed (SIGKILL)")
    assert {code for code, _ in answers} == {200}, answers
    assert any(replica == other for _, replica in answers), answers
    shown = gameday(cwd, "status").stdout
    assert "Killed (SIGKILL)" in shown


@needs_services
def test_real_down_stops_everything(real_stack):
    cwd, _, _ = real_stack
    data = status_json(cwd)
    pids = [p["pid"] for p in data["processes"]] + [data["supervisor_pid"]]
    result = gameday(cwd, "down")
    assert result.returncode == 0 and "5 processes stopped" in result.stdout, result.stdout
    assert wait_gone(pids, 3) == []
    after = status_json(cwd)
    assert after["status"] == "stopped" and not after["supervisor_alive"]
    again = gameday(cwd, "down")
    assert again.returncode == 0 and "nothing running" in again.stdout


@needs_services
def test_real_sigkilled_supervisor_leaves_no_service_process(tmp_path):
    data, _ = start_real_stack(tmp_path)
    try:
        pids = [p["pid"] for p in data["processes"]]
        os.kill(data["supervisor_pid"], signal.SIGKILL)
        assert wait_gone(pids, 5) == []
        assert "is gone" in gameday(tmp_path, "status").stdout
    finally:
        cleanup(tmp_path, data)


@needs_services
def test_real_foreground_up_stops_on_ctrl_c(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "gameday.cli.main", "up", "--free-ports"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    data = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if (tmp_path / ".gameday" / "current").exists():
                result = gameday(tmp_path, "status", "--json")
                if result.returncode == 0 and json.loads(result.stdout)["status"] == "running":
                    data = json.loads(result.stdout)
                    break
            time.sleep(0.2)
        assert data is not None and data["supervisor_pid"] == proc.pid
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        assert "gameday stack ready" in out and "stopped 5 processes" in out
        assert wait_gone([p["pid"] for p in data["processes"]], 2) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if data:
            cleanup(tmp_path, data)
