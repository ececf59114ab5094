"""The drill's last phase: stop everything it started and write what the run ended as.

Runs however the drill ended (resolved, timed out, failed, Ctrl-C): the experiment gets its
grace time (none after Ctrl-C), every fault is cleared, the steady load and any load the
experiment left are stopped, ``run_end`` and the revealed ``drill.json`` are written, then
the incident API and the stack stop.
"""

from __future__ import annotations

import time


def teardown(drill) -> None:
    """Stop what the drill started, in order (experiment, faults, load, run_end and the
    revealed drill file, the incident API, the stack), however the drill ended."""
    drill.set_phase("teardown")
    if drill.experiment is not None and drill.experiment.running():
        deadline = time.monotonic() + (0 if drill.interrupted
                                       else drill.opt.experiment_grace_s)
        while drill.experiment.running() and time.monotonic() < deadline \
                and not drill.stop_event.is_set():
            time.sleep(0.5)
        drill.experiment.stop(grace_s=4.0 if drill.interrupted else 15.0)
    if drill.experiment is not None:
        drill.experiment.reveal()  # a wheel's sealed chaos side: the timeline, chaos/
        drill.outcome["experiment"] = drill.experiment.outcome()
    if drill.run_path is not None:
        clear_all_faults(drill)
    if drill.load is not None:
        drill.load.stop(timeout=3.0 if drill.interrupted else 10.0)
        drill.emit("load_stop", who="drill", text="load stopped")
    if drill.run_path is not None:  # and any load the experiment started and left
        from gameday.load.runner import stop_load

        try:
            stop_load(run=drill.run_path, timeout=3.0)
        except Exception as err:
            if drill.view is not None:
                drill.view.warn(f"could not stop a load: {err}")
    if drill.run_path is not None:
        drill.times["ended"] = time.time()
        drill.emit("run_end", who="drill", interrupted=drill.interrupted,
                  text="drill interrupted (Ctrl-C)" if drill.interrupted else "drill over")
        drill.write_drill_file(reveal=True,
                               diagnoses=drill.incident.diagnoses if drill.incident else [],
                               outcome=drill.outcome, interrupted=drill.interrupted)
    if drill.server is not None:
        drill.server.stop()
    if drill.stack is not None:
        drill.stack.stop()

def clear_all_faults(drill) -> None:
    """Nothing injected outlives the drill, whatever the experiment managed to do."""
    try:
        from gameday.chaos.actions import clear_faults

        clear_faults(run=str(drill.run_path))
    except Exception as err:
        if drill.view is not None:
            drill.view.warn(f"could not clear faults: {err}")
