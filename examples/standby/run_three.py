"""Run three workers, SIGKILL the master, watch a standby take over with the checkpoint.

    .venv/bin/python examples/standby/run_three.py            # starts its own ZooKeeper
    DISCONF_ZK_HOSTS=127.0.0.1:2181 .venv/bin/python examples/standby/run_three.py

Then open the console's admin API to see who is master:
``GET /api/v1/apps/demo/envs/dev/versions/1_0_0/standby``.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from disconf_web.embedded_zookeeper import EmbeddedZooKeeper

HERE = Path(__file__).resolve().parent
SESSION_TIMEOUT = 3.0


def main() -> None:
    zookeeper = None
    hosts = os.environ.get("DISCONF_ZK_HOSTS")
    if not hosts:
        zookeeper = EmbeddedZooKeeper(tempfile.mkdtemp(prefix="standby-example-")).start()
        hosts = zookeeper.hosts
    events: queue.Queue[dict[str, object]] = queue.Queue()
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}
    workers = {}
    for name in ("w1", "w2", "w3"):
        workers[name] = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "worker.py"),
                "--zk",
                hosts,
                "--name",
                name,
                "--session-timeout",
                str(SESSION_TIMEOUT),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        threading.Thread(target=pump, args=(workers[name], events), daemon=True).start()
    try:
        first = wait_for_master(events, timeout=30)
        print(f"master: {first['worker']} (token {first['token']})")
        time.sleep(2)  # let it process and checkpoint a few items
        killed_at = time.time()
        os.kill(workers[str(first["worker"])].pid, signal.SIGKILL)
        print(f"SIGKILLed {first['worker']}")
        second = wait_for_master(events, timeout=SESSION_TIMEOUT + 20)
        print(
            f"new master: {second['worker']} (token {second['token']}) after "
            f"{float(second['t']) - killed_at:.2f}s (bound: {first['takeover_bound']}s, the "
            "negotiated session timeout + 1 s), "
            f"resuming from context {second['context']}"
        )
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.terminate()
            process.wait(15)
        if zookeeper is not None:
            zookeeper.stop()


def pump(process: subprocess.Popen[bytes], events: queue.Queue[dict[str, object]]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] != "checkpoint":  # two a second while master: too chatty to print
            print("  ", event)
        events.put(event)


def wait_for_master(events: queue.Queue[dict[str, object]], timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        event = events.get(timeout=max(0.1, deadline - time.monotonic()))
        if event["event"] == "master":
            return event


if __name__ == "__main__":
    main()
