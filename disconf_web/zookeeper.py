"""This process's ZooKeeper session: one ``KazooClient`` per process, created lazily.

:class:`ZooKeeperConnection` is the per-process connection that the outbox deliverer
(:mod:`disconf_web.notifier`) and the reads (:mod:`disconf_web.instances`,
:mod:`disconf_web.elections`) share. The client is created in the process that uses it: after a
gunicorn fork a change of ``os.getpid()`` makes a new one, so no process ever talks through a
session inherited from its parent. It is started without waiting and retries connecting forever
in the background; callers ask :attr:`ZooKeeperConnection.connected` (a non-blocking state check)
or :meth:`ZooKeeperConnection.client`, which raises :class:`ZooKeeperUnavailable` at once when
the session is not connected.

Error Handling
--------------
* ZooKeeper down at start or ``SUSPENDED``: :meth:`client` raises :class:`ZooKeeperUnavailable`
  immediately (nobody waits for a reconnect); kazoo keeps reconnecting in the background.
* Session ``LOST`` (expired): kazoo opens a new session by itself. The server holds no ephemeral
  nodes, and its only watches are the publish guard's one-shot children watches
  (:class:`~disconf_web.instances.WatchedChildren`), which read again after any state change,
  so nothing needs re-creating; listeners registered with :meth:`add_listener` are told about
  every state change (they must never block: they run on kazoo's event thread).
* Database loss does not concern this module. Restart: a new process opens a new session.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from kazoo.client import KazooClient, KazooState

from disconf_core import DisconfError

__all__ = ["ZooKeeperConnection", "ZooKeeperUnavailable", "node_path_problem"]

log = logging.getLogger(__name__)


class ZooKeeperUnavailable(DisconfError):
    """ZooKeeper is not connected right now (the caller answers 503 or 'pending')."""


StateListener = Callable[[str], None]


def _illegal(char: str) -> bool:
    code = ord(char)
    return (
        code <= 0x1F
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xF8FF
        or code >= 0xFFF0  # also above U+FFFF: Java's UTF-16 makes it a surrogate pair
    )


def node_path_problem(path: str) -> str | None:
    """Why ZooKeeper would refuse ``path`` as a node path (its PathUtils rules), or None.

    Delivery checks every row with it before talking to ZooKeeper (defence in depth: names are
    also refused at the API), so a row that can never be stored is failed, not retried."""
    if not path.startswith("/") or (len(path) > 1 and path.endswith("/")):
        return f"node path {path!r} must start and must not end with '/'"
    for segment in path[1:].split("/"):
        if segment == "":
            return f"node path {path!r} has an empty segment"
        if segment in (".", ".."):
            return f"node path {path!r} has a relative segment {segment!r}"
        for char in segment:
            if _illegal(char):
                return f"node path {path!r} holds the character U+{ord(char):04X}"
    return None


class ZooKeeperConnection:
    """The per-process ZooKeeper session (lazy, re-created after a fork)."""

    def __init__(self, hosts: str, *, enabled: bool = True, session_timeout: float = 10.0) -> None:
        self.hosts = hosts
        self.enabled = enabled
        self.session_timeout = session_timeout
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._zk: KazooClient | None = None
        self._listeners: list[StateListener] = []

    def add_listener(self, listener: StateListener) -> None:
        """Call ``listener(state)`` on every session state change (it must never block)."""
        self._listeners.append(listener)

    def ensure_started(self) -> bool:
        """Create this process's client if not done yet (cheap); True if it was created now."""
        if not self.enabled or self._pid == os.getpid():
            return False
        with self._lock:
            if self._pid == os.getpid():
                return False
            zk = KazooClient(
                hosts=self.hosts,
                timeout=self.session_timeout,
                connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 2},
                command_retry={"max_tries": 0},
            )
            zk.add_listener(self._on_state)
            zk.start_async()
            self._zk = zk
            self._pid = os.getpid()
            log.info("ZooKeeper session starting (%s)", self.hosts)
            return True

    def _on_state(self, state: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:  # noqa: BLE001 - a listener must never break kazoo's thread
                log.exception("ZooKeeper state listener failed")

    @property
    def started_here(self) -> bool:
        return self._pid == os.getpid()

    @property
    def connected(self) -> bool:
        """Non-blocking: is this process's ZooKeeper session connected right now?"""
        zk = self._zk
        return zk is not None and self._pid == os.getpid() and zk.state == KazooState.CONNECTED

    @property
    def kazoo(self) -> KazooClient | None:
        """The raw client of this process (None before start or in a forked child)."""
        return self._zk if self._pid == os.getpid() else None

    def client(self) -> KazooClient:
        """The connected client; raises :class:`ZooKeeperUnavailable` at once otherwise."""
        zk = self._zk
        if zk is None or not self.connected:
            raise ZooKeeperUnavailable(f"ZooKeeper {self.hosts} is not connected")
        return zk

    def stop(self) -> None:
        """Close the session (only in the owning process; a forked child just forgets it)."""
        with self._lock:
            owned = self._pid == os.getpid()
            zk, self._zk = self._zk, None
            self._pid = None
        if zk is not None and owned:
            try:
                zk.stop()
            finally:
                zk.close()
