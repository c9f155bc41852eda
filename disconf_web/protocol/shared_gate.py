"""The freshness gate's newest read, shared by the worker processes of one ``serve``.

The read cache (:mod:`disconf_web.protocol.read_cache`) answers a client from a kept row only
after a generation read that *started after the request arrived*. Each worker process shares
its reads between its own app threads; a read made by *another* worker of the same server
proves just as much (the same database, and ``time.monotonic()`` is one clock for every process
of the host). Under load a request waits in its worker's queue for longer than another worker
needs to complete a read, so letting every worker use the newest completed read of all of them
removes most gate reads (``bench/NOTES.md`` has the numbers).

:class:`SharedGeneration` is two 8-byte fields, ``(began, generation)``, in a shared memory
mapping of an unlinked temporary file: ``began`` is when the newest completed read started (a
``time.monotonic()`` value) and ``generation`` what it read. :func:`prepare_for_workers` creates
it in the serving master before the workers are forked; each worker inherits the mapping and the
file descriptor (:func:`inherited`). Without it (the test client, ``create_app`` in a script)
the gate works per process as before.

Why what a reader sees is safe
------------------------------
* A writer holds an exclusive POSIX record lock (``lockf``; per process, so released by the
  kernel if the worker dies holding it) and replaces the pair only with a read that began
  later; it writes ``generation`` first, then ``began``. A reader takes the shared lock, so it
  never sees half of a write. POSIX locks belong to the process, not the thread, so the
  threads of one process also take one ``threading.Lock`` around them. The lock is never
  waited for (``LOCK_NB``): a worker stopped while holding it only makes the others use their
  own reads (a reader) or skip an offer (a writer), as without sharing.
* Even without the lock, the only mixed pair the write order allows is a newer ``generation``
  with an older ``began``: a newer generation only makes kept rows look stale (the query runs),
  never the reverse. A value is offered only after its read succeeded.
* The file is created afresh by each server start and is never named in the file system, so
  no value survives a restart (after a reboot the monotonic clock starts again from zero).

Error Handling
--------------
The lock held by another worker is not an error: that call goes on without sharing (see
above). Any other ``OSError`` of the lock or the mapping disables sharing in that process
(logged once); the gate then works per process, as without it. Database and ZooKeeper
failures never reach this module: it stores only the results of reads that succeeded, and
restarting the server starts from an empty pair (``began`` = -infinity: no request is
answered from it).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import math
import mmap
import os
import struct
import tempfile
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["SharedGeneration", "inherited", "prepare_for_workers"]

log = logging.getLogger(__name__)

_VALUE = struct.Struct("=q")  # generation, at offset 0
_BEGAN = struct.Struct("=d")  # began, at offset 8 (written last)
_SIZE = 16

#: Attempts of a write to take the lock while readers of other workers hold it for a moment
#: (each a non-blocking ``lockf``; a reader tries once and otherwise uses its own reads).
OFFER_TRIES = 3

T = TypeVar("T")

_inherited: SharedGeneration | None = None


class SharedGeneration:
    """``(began, generation)`` of the newest completed gate read (see the module docstring)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._map = mmap.mmap(fd, _SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.disabled = False
        self.busy = 0  # lock attempts given up because other workers held it (for tests)
        self._threads = threading.Lock()  # lockf() does not exclude threads of one process

    @classmethod
    def create(cls) -> SharedGeneration:
        """A fresh pair (no read yet) in an unlinked temporary file."""
        fd, path = tempfile.mkstemp(prefix="disconf-gate-")
        try:
            os.unlink(path)
            os.write(fd, _VALUE.pack(0) + _BEGAN.pack(-math.inf))
            return cls(fd)
        except BaseException:
            os.close(fd)
            raise

    def latest(self) -> tuple[float, int] | None:
        """``(began, generation)`` of the newest completed read of any worker; None if sharing
        is off or another worker is writing it right now (the caller uses its own reads)."""
        return self._locked(fcntl.LOCK_SH, 1, self._read)

    def offer(self, began: float, generation: int) -> None:
        """Publish a successful read (``began``: when it started) if it began after the one
        kept; skipped if the lock stays taken by other workers for :data:`OFFER_TRIES` tries."""

        def write() -> None:
            if began > _BEGAN.unpack_from(self._map, 8)[0]:
                _VALUE.pack_into(self._map, 0, generation)
                _BEGAN.pack_into(self._map, 8, began)

        self._locked(fcntl.LOCK_EX, OFFER_TRIES, write)

    def _read(self) -> tuple[float, int]:
        return _BEGAN.unpack_from(self._map, 8)[0], _VALUE.unpack_from(self._map, 0)[0]

    def _locked(self, mode: int, tries: int, action: Callable[[], T]) -> T | None:
        """``action()`` under the record lock, which is never waited for: a worker stopped
        (``SIGSTOP``, a frozen cgroup) while holding it must not stop the others, so after
        ``tries`` refused attempts this gives up (None, counted in :attr:`busy`). Any other
        ``OSError`` turns sharing off in this process."""
        if self.disabled:
            return None
        try:
            with self._threads:
                for _ in range(tries):
                    try:
                        fcntl.lockf(self._fd, mode | fcntl.LOCK_NB)
                    except OSError as exc:
                        if exc.errno not in (errno.EACCES, errno.EAGAIN):
                            raise
                        continue
                    try:
                        return action()
                    finally:
                        fcntl.lockf(self._fd, fcntl.LOCK_UN)
                self.busy += 1
                return None
        except OSError as exc:
            self._disable(exc)
            return None

    def _disable(self, exc: OSError) -> None:
        self.disabled = True
        log.warning("read gate sharing between workers is off in this process: %s", exc)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


def prepare_for_workers() -> SharedGeneration | None:
    """Create the pair in the serving master, before the workers are forked (they inherit it);
    None (logged) if the system refuses it: the workers then share nothing."""
    global _inherited
    if _inherited is None:
        try:
            _inherited = SharedGeneration.create()
        except OSError as exc:
            log.warning("read gate sharing between workers is off: %s", exc)
    return _inherited


def inherited() -> SharedGeneration | None:
    """The pair this process inherited from its serving master, if any."""
    return _inherited
