"""Recording what a client applied, off the apply path and coalesced per config.

After a revision is applied, two writes record it: the local snapshot (a temporary file, fsync,
rename, fsync of the directory, twice: content and MD5) and the instance node in ZooKeeper (a
round trip). Neither may delay a callback or the next config's fetch, and a burst of revisions
of one config must not cost one pair of writes per revision. :class:`CoalescingWriter` runs
them on one thread of its own:

* ``submit(key, write)`` records the latest write of a config, replacing one still pending for
  the same config (counted in ``coalesced``); it never blocks on I/O;
* the writer thread takes every pending config's latest write, runs them one after another,
  then takes what arrived meanwhile, until nothing is pending;
* with a ``delay`` (the client uses :data:`RECORD_DELAY`), a round starts only once the first
  pending write has waited a window drawn from ``[delay, 2 x delay]``: the writes of a burst are
  coalesced over the window, and, when a publish reaches a whole fleet at once, its snapshot and
  instance-node writes (one ZooKeeper write per client) come after the notification has reached
  every client, spread over the window, instead of competing with its delivery.
  :meth:`flush` and ``close()`` cut the window short. ``submit()`` does not wake the writer
  thread for that: the window's end is handed to one alarm thread per process, which wakes the
  writer when it has passed. A publish reaching many clients of one process thus wakes one
  sleeping thread a few times (only when a window ends before the one it waits for) instead of
  every client's writer thread, while the notification is still being delivered.

Staleness bound: a revision applied at time *t* is on disk and in its instance node once the
window (at most ``2 x delay``) has passed and the round that was running at *t* and the next one
have ended, i.e. after at most the window plus two rounds, each
costing per pending config one snapshot write and one instance-node write (the latter bounded
by the ZooKeeper operation timeout of :mod:`disconf_client.watch`). :meth:`flush` waits for
that (bounded by its ``timeout``); ``close()`` flushes within ``FLUSH_WAIT`` seconds.

A write that raises is logged and counted by the caller's own handling; it never kills the
writer thread (``BaseException`` included).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable

from .jitter import jitter_delay

__all__ = ["FLUSH_WAIT", "RECORD_DELAY", "CoalescingWriter"]

log = logging.getLogger(__name__)

FLUSH_WAIT = 10.0
"""Seconds ``close()`` waits for pending writes to finish."""

RECORD_DELAY = 1.0
"""The client's writer window: a round starts 1-2 s after the first pending write."""


class CoalescingWriter:
    """One thread running the latest pending write of each key (see the module docstring)."""

    def __init__(self, name: str = "disconf-writer", *, delay: float = 0.0) -> None:
        self._name = name
        self.delay = delay
        self._hurry = False  # flush()/close(): start the round now
        self._cond = threading.Condition()
        self._pending: dict[Hashable, Callable[[], None]] = {}
        self._due: float | None = None  # with a delay: when the pending writes' round may start
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.coalesced = 0
        """Writes replaced by a newer one of the same key before they ran."""

    def submit(self, key: Hashable, write: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                return
            if self._pending.pop(key, None) is not None:
                self.coalesced += 1
            self._pending[key] = write
            self._start_thread()
            if self.delay <= 0 or self._hurry:
                self._cond.notify_all()
                return
            if self._due is not None:
                return  # the window of the first pending write is running: nothing to wake
            self._due = due = time.monotonic() + self.delay + jitter_delay(self.delay)
        _ALARM.schedule(due, self._wake)

    def start(self) -> None:
        """Start the writer thread now (the client does at start), not in the first submit()."""
        with self._cond:
            if not self._closed:
                self._start_thread()

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _wake(self) -> None:
        """Called by the alarm thread once a window has passed."""
        with self._cond:
            self._cond.notify_all()

    def _round_due(self) -> bool:
        """Under the lock: whether the pending writes may run now (or the writer is closed)."""
        if self._closed:
            return True
        if not self._pending:
            return False
        if self.delay <= 0 or self._hurry:
            return True
        return self._due is not None and time.monotonic() >= self._due

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is pending or running; False if ``timeout`` s passed first."""
        with self._cond:
            self._hurry = True
            self._cond.notify_all()
            done = self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)
            if done:
                self._hurry = False
            return done

    def close(self, timeout: float = FLUSH_WAIT) -> None:
        """Run what is pending (waiting at most ``timeout`` s), then stop the thread."""
        if not self.flush(timeout):
            log.warning("pending snapshot/instance writes not finished after %.1f s", timeout)
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._round_due():
                    # The alarm wakes this thread at the window's end; the timeout is a backstop.
                    due = self._due
                    self._cond.wait(None if due is None else max(0.0, due - time.monotonic()))
                if self._closed:
                    return
                self._hurry = False
                self._due = None
                batch, self._pending = self._pending, {}
                self._busy = True
            try:
                for key, write in batch.items():
                    try:
                        write()
                    except BaseException:  # noqa: BLE001 - the writer thread must survive
                        log.exception("recording the applied revision of %s failed", key)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


class _Alarm:
    """One thread per process waking each writer when its window has passed.

    It sleeps until the earliest window's end; scheduling a later one wakes nothing. It ends
    after ``linger`` seconds with nothing scheduled (and starts again with the next window).
    A wake-up that raises is logged; the alarm goes on.
    """

    def __init__(self, linger: float = 60.0) -> None:
        self.linger = linger
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # ties: first scheduled, first woken
        self._thread: threading.Thread | None = None
        self._sleeping_until: float | None = None  # None: awake, it looks at the heap again

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's alarm thread does not exist there (nor its lock)."""
        self._cond = threading.Condition()
        self._heap = []
        self._thread = None
        self._sleeping_until = None

    def schedule(self, due: float, wake: Callable[[], None]) -> None:
        """Call ``wake()`` (on the alarm thread) once ``time.monotonic()`` reaches ``due``."""
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._order), wake))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="disconf-writer-alarm", daemon=True
                )
                self._thread.start()
            elif self._sleeping_until is not None and due < self._sleeping_until:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    if not self._heap:
                        self._sleeping_until = now + self.linger
                        self._cond.wait(self.linger)
                        self._sleeping_until = None
                        if not self._heap:
                            self._thread = None
                            return
                        continue
                    self._sleeping_until = self._heap[0][0]
                    self._cond.wait(self._sleeping_until - now)
                    self._sleeping_until = None
                fired = []
                while self._heap and self._heap[0][0] <= now:
                    fired.append(heapq.heappop(self._heap)[2])
            for wake in fired:
                try:
                    wake()
                except BaseException:  # noqa: BLE001 - the alarm must survive
                    log.exception("waking a writer failed")
            del fired


_ALARM = _Alarm()
os.register_at_fork(after_in_child=_ALARM.reset_after_fork)
