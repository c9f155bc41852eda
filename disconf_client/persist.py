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
  :meth:`flush` and ``close()`` cut the window short.

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

import logging
import threading
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
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

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
                self._cond.wait_for(lambda: bool(self._pending) or self._closed)
                if self.delay > 0 and not self._hurry:
                    window = self.delay + jitter_delay(self.delay)
                    self._cond.wait_for(lambda: self._hurry or self._closed, window)
                if self._closed:
                    return
                self._hurry = False
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
