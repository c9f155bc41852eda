"""One contender process for the multi-process master/standby tests (and a readable example).

``python -m tests.standby.contender_process --hosts H --label L --log FILE [--session-timeout S]``

It joins the election ``job`` and appends one JSON line per role change to ``FILE``, each with
``time.time()`` (CLOCK_REALTIME: comparable across processes, unlike ``time.monotonic``)::

    {"event": "start"|"standby"|"master"|"saved"|"lost"|"exit", "t": ..., "label": L, "pid": ...,
     "token": <fencing token, on "master">, "context": <value received, on "master">}

On becoming master it saves ``{"by": L, "token": token}`` as the context, so the next master can
show what it received. SIGTERM stops it cleanly (``on_lose_master`` runs, the lock is released).
Each line is written with a single ``write`` on an unbuffered file, so a SIGKILL loses nothing
that was already recorded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
from typing import Any

from disconf_client.standby import ActiveStandby, MastershipError
from disconf_core import Coordinates

COORDS = Coordinates("billing", "1_0_0", "test")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--session-timeout", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s [{args.label} %(process)d] %(name)s %(message)s",
    )
    log_file = open(args.log, "ab", buffering=0)  # noqa: SIM115 - closed at exit
    write_lock = threading.Lock()

    def record(event: str, **extra: Any) -> None:
        line = {"event": event, "t": time.time(), "label": args.label, "pid": os.getpid()}
        line.update(extra)
        with write_lock:
            log_file.write(json.dumps(line).encode() + b"\n")

    election: ActiveStandby

    def on_become_master(token: int) -> None:
        context = election.context
        record("master", token=token, context=None if context is None else context.value)
        try:
            election.save_context({"by": args.label, "token": token})
            record("saved", token=token)
        except MastershipError:  # deposed, or ZooKeeper unreachable meanwhile
            record("save-refused", token=token)

    election = ActiveStandby(
        "job",
        coords=COORDS,
        zk_hosts=args.hosts,
        session_timeout=args.session_timeout,
        on_become_master=on_become_master,
        on_become_standby=lambda: record("standby"),
        on_lose_master=lambda: record("lost"),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    record("start")
    election.start()
    stop.wait()
    election.stop()
    record("exit")
    log_file.close()


if __name__ == "__main__":
    main()
