"""The master/standby hook runner: user hooks run one at a time, in order, off the event thread.

``on_become_master``, ``on_become_standby`` and ``on_lose_master`` are queued here by the
election (from the kazoo listener or its worker) and run on a per-election thread, so a slow
hook never blocks the kazoo event thread and hooks never overlap. A raising hook is logged with
its traceback and the next one runs.

Error Handling
--------------
Nothing here talks to ZooKeeper: SUSPENDED, LOST and restarts reach the hooks only as the
``on_lose_master`` / ``on_become_*`` calls the election queues. ``stop(timeout)`` waits at most
``timeout`` for the hook running now; a hook that never returns leaves a daemon thread behind.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

__all__ = ["HookRunner"]

log = logging.getLogger(__name__)


class HookRunner:
    """Runs hooks one at a time, in submission order, on its own thread."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._queue: queue.Queue[tuple[str, Callable[[], object], threading.Event] | None]
        self._queue = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, name=f"disconf-standby-hooks[{label}]", daemon=True
        )
        self._thread.start()

    def submit(self, what: str, call: Callable[[], object]) -> threading.Event:
        done = threading.Event()
        self._queue.put((what, call, done))
        return done

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            what, call, done = item
            try:
                call()
            except Exception:
                log.exception(
                    "master/standby %r: %s raised; the election goes on", self._label, what
                )
            finally:
                done.set()

    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self, timeout: float) -> None:
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
