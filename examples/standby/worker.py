"""One instance of a job that must run as a single active copy (run three of them).

    python examples/standby/worker.py --zk 127.0.0.1:2181 --name w1

While master it "processes" items and saves its checkpoint as the election context every
half second; a standby that takes over resumes from the checkpoint it receives. Every role
change is printed as one JSON line (run_three.py reads them).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time

from disconf_client.standby import ActiveStandby, NotMasterError
from disconf_core import Coordinates


def say(name: str, event: str, **extra: object) -> None:
    print(json.dumps({"worker": name, "event": event, "t": time.time(), **extra}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--zk", required=True, help="ZooKeeper connect string")
    parser.add_argument("--name", required=True)
    parser.add_argument("--session-timeout", type=float, default=3.0)
    args = parser.parse_args()

    working = threading.Event()
    position = {"next_item": 0}

    def on_become_master(token: int) -> None:
        saved = election.context
        if saved is not None and isinstance(saved.value, dict):
            position["next_item"] = int(saved.value["next_item"])
        context = None if saved is None else saved.value
        say(args.name, "master", token=token, context=context)
        working.set()

    def on_lose_master() -> None:
        working.clear()
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
        if working.is_set() and election.is_master:
            position["next_item"] += 5  # "process" five items, then checkpoint
            try:
                election.save_context(dict(position))
            except NotMasterError:
                working.clear()  # deposed meanwhile: ZooKeeper refused the write
    election.stop()


if __name__ == "__main__":
    main()
