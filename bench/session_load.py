"""Synthetic event source for bench/session-throughput.ts: a daemon whose loop is replaced by a generator.

It uses the daemon's real parts (run lock, RunStore with one transaction per event, the Unix-socket server and its
commit-notification hub), so attach sees exactly what it sees from a real run; only the events are synthetic
(`finetune.progress`, the most frequent event kind in a real run). Usage:
    python bench/session_load.py RUN_DIR COUNT RATE_PER_S
RATE_PER_S > 0: waits for a subscriber (an attach process), then commits COUNT events at that rate (live latency).
RATE_PER_S = 0: commits COUNT events first, then waits for a subscriber (replay throughput). Either way a final
run.finished follows, and it prints `committed N events in S s`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from archloop.run.daemon import DaemonControl, Hub, RequestServer
from archloop.run.files import RunFiles, acquire_run_lock
from archloop.run.store import RunStore


def wait_for_subscriber(hub: Hub) -> None:
    print("ready", flush=True)
    while not hub._subscribers:
        time.sleep(0.01)
    time.sleep(0.5)


def main() -> int:
    run_dir, count, rate = (
        Path(sys.argv[1]).resolve(),
        int(sys.argv[2]),
        float(sys.argv[3]),
    )
    created = {
        "name": "bench",
        "preset": None,
        "model": "synthetic",
        "cycles": 1,
        "candidatesPerCycle": 0,
        "protocol": "fast",
        "executor": "none",
        "config": {},
    }
    RunStore.create_run(
        run_dir,
        name="bench",
        preset=None,
        config={},
        target_cycles=1,
        created_event=created,
    ).close()
    lock = acquire_run_lock(run_dir)
    hub = Hub()
    files = RunFiles(run_dir)
    server = RequestServer(run_dir, files.socket_path(), hub, DaemonControl())
    files.socket_record.write_text(str(server.path) + "\n")
    server.start()
    store = RunStore(run_dir, on_commit=hub.on_commit)
    if rate > 0:
        wait_for_subscriber(hub)
    start = time.perf_counter()
    for step in range(1, count + 1):
        store.append_event(
            "finetune.progress",
            {
                "cycle": 1,
                "step": step,
                "total": count,
                "loss": 1.0 / step,
                "etaSeconds": 1.0,
            },
        )
        if rate > 0:
            delay = start + step / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    elapsed = time.perf_counter() - start
    if rate == 0:
        wait_for_subscriber(hub)
    store.run_finished("completed", 1, "finished")
    print(
        f"committed {count} events in {elapsed:.2f} s ({count / elapsed:,.0f}/s)",
        flush=True,
    )
    time.sleep(1.0)
    server.close()
    store.close()
    files.socket_record.unlink(missing_ok=True)
    import os

    os.close(lock)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
