"""Recording what a client applied, off the apply path and coalesced per config.

After a revision is applied, two writes record it: the local snapshot (a temporary file, fsync,
rename, fsync of the directory, twice: content and MD5) and the instance node in ZooKeeper (a
round trip). Neither may delay a callback or the next config's fetch, and a burst of revisions
of one config must not cost one pair of writes per revision. :class:`CoalescingWriter` runs
them on one thread of its own:

* ``submit(key, write)`` records the latest write of a config, replacing one still pending for
  the same config (counted in ``coalesced``); it never blocks on I/O;
* the writer thread takes every pending config's latest write, runs them one after another,
  then takes what arrived meanwhile, until nothing is pending.

Staleness bound: a revision applied at time *t* is on disk and in its instance node once the
round that was running at *t* and the next one have ended, i.e. after at most two rounds, each
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

__all__ = ["FLUSH_WAIT", "CoalescingWriter"]

log = logging.getLogger(__name__)

FLUSH_WAIT = 10.0
"""Seconds ``close()`` waits for pending writes to finish."""


class CoalescingWriter:
    """One thread running the latest pending write of each key (see the module docstring)."""

    def __init__(self, name: str = "disconf-writer") -> None:
        self._name = name
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
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

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
                if self._closed:
                    return
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
