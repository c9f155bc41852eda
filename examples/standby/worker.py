"""One instance of a job that must run as a single active copy (run three of them).

    python examples/standby/worker.py --zk 127.0.0.1:2181 --name w1

While master it "processes" items and saves its checkpoint as the election context every
half second; a standby that takes over resumes from the checkpoint it receives. Every role
change and checkpoint is printed as one JSON line (run_three.py reads them).

It survives what production does to it: a pause (SIGSTOP/SIGCONT, a long GC), a silent network,
ZooKeeper restarting. Its loop catches ``MastershipError`` once: "no longer master" and "cannot
reach ZooKeeper" alike mean *stop working now*; the election's hooks say when to work again.
SIGTERM or Ctrl-C stops it cleanly (``on_lose_master`` runs, then the lock is released).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time

from disconf_client.standby import ActiveStandby, MastershipError
from disconf_core import Coordinates

_output = threading.Lock()


def say(name: str, event: str, **extra: object) -> None:
    """One JSON line per event; the hooks and the loop run on different threads, so a line is
    written whole under a lock (``print`` writes the text and its newline separately)."""
    line = json.dumps({"worker": name, "event": event, "t": time.time(), **extra}) + "\n"
    with _output:
        sys.stdout.write(line)
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--zk", required=True, help="ZooKeeper connect string")
    parser.add_argument("--name", required=True)
    parser.add_argument("--session-timeout", type=float, default=3.0)
    args = parser.parse_args()

    lock = threading.Lock()
    # The term this process works for (its fencing token, None while not master) and where the
    # work stands; set by the hooks, read by the loop below.
    state: dict[str, int | None] = {"token": None, "next_item": 0}

    def on_become_master(token: int) -> None:
        saved = election.context  # the checkpoint the previous master left
        with lock:
            if saved is not None and isinstance(saved.value, dict):
                state["next_item"] = int(saved.value["next_item"])
            state["token"] = token
        say(
            args.name,
            "master",
            token=token,
            context=None if saved is None else saved.value,
            # if this process dies now, a standby takes over within this many seconds
            takeover_bound=election.takeover_bound,
        )

    def on_lose_master() -> None:
        with lock:
            state["token"] = None
        say(args.name, "lost")

    election = ActiveStandby(
        "demo-job",
        coords=Coordinates("demo", "1_0_0", "dev"),
        zk_hosts=args.zk,
        session_timeout=args.session_timeout,
        on_become_master=on_become_master,
        on_become_standby=lambda: say(args.name, "standby"),
        on_lose_master=on_lose_master,
    ).start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        with lock:
            token, next_item = state["token"], state["next_item"]
        if token is None or token != election.token:
            continue  # a standby, or on_become_master has not restored the checkpoint yet
        next_item = (next_item or 0) + 5  # "process" five items, then checkpoint
        try:
            election.save_context({"next_item": next_item})
        except MastershipError as exc:
            # Deposed, or ZooKeeper unreachable: stop working; the hooks tell what comes next
            # (on_lose_master, then on_become_standby or on_become_master again).
            say(args.name, "paused", reason=type(exc).__name__)
            continue
        with lock:
            if state["token"] == token:
                state["next_item"] = next_item
        say(args.name, "checkpoint", token=token, next_item=next_item)
    election.stop()


if __name__ == "__main__":
    main()
