import os
import subprocess
import sys
import time

from gameday.stack.events import EventLog, read_events
from gameday.stack.process import describe_exit, pid_alive, proc_stat, rss_mb


def test_exit_reasons_like_a_container_runtime():
    assert describe_exit(0) == (0, "Completed")
    assert describe_exit(3) == (3, "Error")
    assert describe_exit(-9) == (137, "Killed (SIGKILL)")
    assert describe_exit(-15) == (143, "Killed (SIGTERM)")
    assert describe_exit(-9, "OOMKilled") == (137, "OOMKilled")


def test_rss_and_stat_of_this_process():
    assert rss_mb(os.getpid()) > 1
    state, ppid, _ = proc_stat(os.getpid())
    assert ppid == os.getppid() and state in "RS"
    assert rss_mb(2 ** 22 + 7) is None


def test_a_zombie_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while proc_stat(child.pid) and proc_stat(child.pid)[0] != "Z":
        time.sleep(0.01)
    assert not pid_alive(child.pid)  # exited, not yet reaped
    child.wait()
    assert not pid_alive(child.pid)
    assert pid_alive(os.getpid())
    assert not pid_alive(None)


def test_event_log_round_trip(tmp_path):
    log = EventLog(tmp_path / "logs" / "supervisor.log")
    log.emit("exited", "classifier-1", code=137, reason="Killed (SIGKILL)")
    with open(log.path, "a") as fh:
        fh.write("Traceback (not JSON)\n")
    [event] = read_events(log.path)
    assert event["event"] == "exited" and event["process"] == "classifier-1"
    assert event["code"] == 137
