"""Process faults: CPU burn, memory leak and crash, reconciled against the store.

A background task keeps the process's state in line with the active faults several times a
second, so an expired fault stops by itself, even if whoever added it has gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

from gameday.faults.store import FaultStore

log = logging.getLogger("gameday.faults")
MB = 1024 * 1024


class _Burner(threading.Thread):
    def __init__(self, duty: float) -> None:
        super().__init__(daemon=True, name="gameday-cpu-burn")
        self.duty = duty
        self.stop_event = threading.Event()

    def run(self) -> None:
        period = 0.05
        while not self.stop_event.is_set():
            end = time.perf_counter() + period * self.duty
            x = 0
            while time.perf_counter() < end:
                x += 1
            if self.duty < 1.0:
                self.stop_event.wait(period * (1.0 - self.duty))


class ProcessEffects:
    def __init__(self, store: FaultStore, tick_s: float = 0.2) -> None:
        self.store = store
        self.tick_s = tick_s
        self.burners: dict[str, list[_Burner]] = {}
        self.leaks: dict[str, list[bytearray]] = {}
        self.crash_at: dict[str, float] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        self.reconcile(stop_all=True)

    async def _loop(self) -> None:
        while True:
            try:
                self.reconcile()
            except Exception:  # keep the reconciler alive whatever happens
                log.exception("fault reconciler failed")
            await asyncio.sleep(self.tick_s)

    def leaked_mb(self) -> float:
        return sum(len(b) for chunks in self.leaks.values() for b in chunks) / MB

    def reconcile(self, stop_all: bool = False) -> None:
        self.store.prune()
        active = {} if stop_all else {f.id: f for f in self.store.list()}
        now = time.time()

        for fid in list(self.burners):
            if fid not in active:
                for b in self.burners.pop(fid):
                    b.stop_event.set()
        for fid in list(self.leaks):
            if fid not in active:
                del self.leaks[fid]
        for fid in list(self.crash_at):
            if fid not in active:
                del self.crash_at[fid]

        for f in active.values():
            if f.type == "cpu_burn" and f.id not in self.burners:
                burners = [_Burner(f.params["duty"]) for _ in range(f.params["threads"])]
                for b in burners:
                    b.start()
                self.burners[f.id] = burners
            elif f.type == "memory_leak":
                chunks = self.leaks.setdefault(f.id, [])
                held = sum(len(c) for c in chunks) / MB
                want = min(f.params["cap_mb"], f.params["mb_per_s"] * (now - f.created_at))
                if want - held >= 1:
                    # Multiplying a filled bytearray touches every page, so RSS really grows.
                    chunks.append(bytearray(b"\x5a") * int((want - held) * MB))
            elif f.type == "crash" and not f.params["on_request"]:
                due = self.crash_at.setdefault(f.id, max(now, f.created_at) + f.params["delay_s"])
                if now >= due:
                    log.error("crash fault: exiting", extra={"fault_id": f.id})
                    logging.shutdown()
                    os._exit(f.params["exit_code"])
