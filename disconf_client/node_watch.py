"""A data watch whose events and reads are handled on kazoo's connection thread.

kazoo's ``DataWatch`` handles a change with three hand-offs between threads: the connection
thread queues the watch event for kazoo's event thread, which sends the re-arming ``get`` back
to the connection thread (through a socket pair) and sleeps until the connection thread has read
the answer and wakes it. When a publish reaches many clients of a process at once, every one of
those wake-ups waits for the interpreter lock held by the others: in the fan-out benchmark (25
sessions per process) it is most of what a notification costs the client.

:class:`NodeWatch` sends the re-arming ``get`` from the connection thread itself when the event
arrives, and handles the answer there too, so a change costs the connection thread's own work
and one hand-off (the change callback's lane, :mod:`disconf_client.callbacks`). For that, the
client's ``KazooClient`` runs with :class:`DirectHandler`, kazoo's threading handler that runs
functions marked with :func:`direct` where kazoo would queue them (a watch event, an
asynchronous result's callback) and queues everything else as kazoo does.

What a direct function may do: it runs on the thread that reads the session's socket and sends
its pings, so it never blocks and never waits for ZooKeeper; it sends requests asynchronously
and returns. :class:`NodeWatch` calls ``on_change(data)`` there, which in the client applies
node data that carries the whole content (the fields' converters run there, which is why they
must be quick; user callbacks never do) or queues an HTTP download. If kazoo stops wrapping its
calls as this module expects (its version is pinned), the marked functions are simply queued as
before: slower, never wrong (a test checks that the direct path is taken).

Semantics kept from ``DataWatch``: ``on_change`` is called once per node version (``mzxid``),
in order, never for the version read when the watch was armed; a deleted node is
``on_change(None)``, and its re-creation is seen.

Error Handling
--------------
* Connection loss (SUSPENDED): a read in flight fails with ``ConnectionLoss`` and is dropped.
  The session may survive, but its watches do not: ZooKeeper drops them with the connection
  and kazoo does not re-register them. :meth:`NodeWatch.rearm` (the client calls it on every
  ``CONNECTED``) reads the node again with a watch and reports a version missed meanwhile,
  once (tested through a cut TCP proxy).
* Session expiry (LOST): kazoo drops every watch and sends each watcher an event of type
  ``NONE``, which is ignored; :meth:`NodeWatch.rearm` on the new session's ``CONNECTED`` arms
  the watch again, and the client re-fetches everything anyway.
* ZooKeeper restarted: as a connection loss, or as an expiry if the session is gone.
* Any exception in a direct function is logged and swallowed: it must never reach kazoo's
  connection loop.
* :meth:`NodeWatch.stop`: later events and answers are ignored; the server-side watch fires
  once more at most and is not re-armed.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import NoNodeError
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.protocol.states import EventType

__all__ = ["DirectHandler", "NodeWatch", "direct"]

log = logging.getLogger(__name__)

_DIRECT = "_disconf_direct"

Function = Callable[..., Any]


def direct(function: Function) -> Function:
    """Mark ``function`` to run on kazoo's connection thread (see the module docstring)."""
    setattr(function, _DIRECT, True)
    return function


def _is_direct(function: object) -> bool:
    return bool(getattr(function, _DIRECT, False))


def _run_direct(function: Function, *args: Any) -> None:
    DirectHandler.direct_calls += 1
    try:
        function(*args)
    except Exception:  # noqa: BLE001 - must never reach kazoo's connection loop
        log.exception("ZooKeeper watch handling failed")


class _DirectQueue(queue.Queue[Any]):
    """kazoo's completion queue: an asynchronous result's callback marked :func:`direct`
    (kazoo queues ``functools.partial(callback, result)``) runs at once, on the thread that
    set the result; anything else is queued for kazoo's completion thread."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if isinstance(item, functools.partial) and _is_direct(item.func):
            _run_direct(item)
            return
        super().put(item, block, timeout)


class DirectHandler(SequentialThreadingHandler):  # type: ignore[misc]
    """kazoo's threading handler running :func:`direct` functions where kazoo would queue
    them: watch events (``dispatch_callback``) and asynchronous results' callbacks."""

    queue_impl = _DirectQueue
    direct_calls = 0
    """Direct functions run so far, all handlers of the process (tests check the path)."""

    def dispatch_callback(self, callback: Any) -> None:
        if _is_direct(callback.func):
            _run_direct(callback.func, *callback.args)
            return
        super().dispatch_callback(callback)


class NodeWatch:
    """Watches one node's data on a client running :class:`DirectHandler`.

    ``on_change(data)`` is called on the connection thread for each new version after the
    first read (``None``: the node is gone). :meth:`start` sends the first read;
    :meth:`wait_armed` waits for it.
    """

    def __init__(self, zk: Any, path: str, on_change: Callable[[bytes | None], None]) -> None:
        self.zk = zk
        self.path = path
        self._on_change = on_change
        self._lock = threading.Lock()  # held only to read or set the fields below
        self._mzxid: int | None = None  # the version last reported (or read when armed)
        self._armed = threading.Event()  # the first read has been answered
        self._initial = True  # the next answer is the first one: not a change
        self._stopped = False
        # Marked functions (a bound method cannot carry the mark), made once: kazoo keeps a
        # watch function in a set, so re-arming with the same object never doubles it.
        self._on_event = direct(lambda event: self._handle_event(event))
        self._on_data = direct(lambda result: self._handle_data(result))
        self._on_exists = direct(lambda result: self._handle_exists(result))

    # -- public -------------------------------------------------------------------------------

    def start(self) -> None:
        """Send the first read (arming the watch); returns at once."""
        self._read()

    def wait_armed(self, timeout: float) -> bool:
        """Wait for the first read's answer. On ``False`` that answer, when it comes, counts as a
        change (the caller could not know the version it was armed at)."""
        if self._armed.wait(timeout):
            return True
        with self._lock:
            self._initial = False
        return self._armed.is_set()

    def rearm(self) -> None:
        """Read the node again with a watch (after a reconnection): a version missed meanwhile
        is reported."""
        with self._lock:
            if self._stopped:
                return
        self._read()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True

    # -- on the connection thread -------------------------------------------------------------

    def _read(self) -> None:
        self.zk.get_async(self.path, watch=self._on_event).rawlink(self._on_data)

    def _handle_event(self, event: Any) -> None:
        if self._stopped or event.type == EventType.NONE:
            return  # stopped, or the session ended (rearm() follows the next CONNECTED)
        self._read()

    def _handle_data(self, result: Any) -> None:
        if self._stopped:
            return
        exception = result.exception
        if isinstance(exception, NoNodeError):
            self.zk.exists_async(self.path, watch=self._on_event).rawlink(self._on_exists)
            return
        if exception is not None:
            # Connection loss, expiry, closing: rearm() on the next CONNECTED reads again.
            log.debug("reading %s failed: %r", self.path, exception)
            return
        data, stat = result.value
        self._report(stat.mzxid, data)

    def _handle_exists(self, result: Any) -> None:
        if self._stopped or result.exception is not None:
            return
        if result.value is not None:
            self._read()  # created since the read failed: read it (and watch its data)
            return
        self._report(None, None)

    def _report(self, mzxid: int | None, data: bytes | None) -> None:
        with self._lock:
            initial, self._initial = self._initial, False
            previous, changed = self._mzxid, mzxid != self._mzxid
            if mzxid is not None and previous is not None and mzxid < previous:
                changed = False  # an older answer (two reads in flight): already reported
            if changed:
                self._mzxid = mzxid
        self._armed.set()
        if changed and not initial:
            self._on_change(data)
