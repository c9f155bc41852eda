"""The recipe's ZooKeeper client, and the session timeout ZooKeeper actually granted.

A client asks for a session timeout; the server grants one within ``[minSessionTimeout,
maxSessionTimeout]``, by default ``[2, 20] x tickTime``: asking 2 s of a stock server
(``tickTime=2000``) gives 4 s. The granted (*negotiated*) value is what bounds a takeover after a
master dies, so the recipe needs it. kazoo keeps it to itself (it only logs it, at its BLATHER
level, during the handshake); :func:`make_client` therefore gives the client a logger (kazoo's
documented ``logger=`` argument) that notes the value from that record, and
:func:`session_timeouts` reads it back. Nothing else of kazoo's logging changes: every record
is passed on to the ``kazoo.client`` logger.

The record's layout is kazoo's: :data:`~disconf_client.standby.lock.KAZOO_TESTED` names the
versions it was checked against, and ``tests/standby/test_kazoo_pin.py`` fails if a kazoo
upgrade changes it.

Error Handling
--------------
Nothing here talks to ZooKeeper. A client not made by :func:`make_client` (a shared
``client=``), or one whose handshake record was not recognised, reports ``None``: unknown, and
callers fall back to the timeout they asked for. A reconnect that lands on a server with another
configuration updates the value (the note runs on kazoo's connection thread and only stores it).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

__all__ = ["SessionTimeouts", "make_client", "session_timeouts"]

# kazoo.loggingsupport.BLATHER: the level of the handshake record
_BLATHER = 5
_HANDSHAKE_PREFIX = "Session created"

_observed: weakref.WeakKeyDictionary[KazooClient, SessionTimeouts] = weakref.WeakKeyDictionary()


class SessionTimeouts:
    """The session timeout asked for and the one the server granted (seconds; None: unknown)."""

    def __init__(self, requested: float) -> None:
        self.requested = requested
        self._negotiated: float | None = None
        self._reported: float | None = None
        self._lock = threading.Lock()

    @property
    def negotiated(self) -> float | None:
        with self._lock:
            return self._negotiated

    def unreported_change(self) -> float | None:
        """The negotiated timeout if it differs from the request and was not returned before
        (so a warning about it is logged once per value, whoever asks first)."""
        with self._lock:
            negotiated = self._negotiated
            if negotiated is None or negotiated in (self.requested, self._reported):
                return None
            self._reported = negotiated
            return negotiated

    def note(self, milliseconds: object) -> None:
        if isinstance(milliseconds, int) and not isinstance(milliseconds, bool):
            with self._lock:
                self._negotiated = milliseconds / 1000.0


class _HandshakeLogger(logging.Logger):
    """kazoo's logger for one client: notes the handshake's negotiated timeout, logs as usual."""

    def __init__(self, timeouts: SessionTimeouts) -> None:
        super().__init__("kazoo.client")
        self.parent = logging.getLogger("kazoo.client")
        self.timeouts = timeouts

    def isEnabledFor(self, level: int) -> bool:
        # Not cached here: this logger is not registered with logging's manager, so a level set
        # later on "kazoo" or the root logger would never clear a cache of its own.
        assert self.parent is not None
        return self.parent.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        # kazoo: log(BLATHER, "Session created, ... negotiated session timeout: %s ...",
        #            session_id, passwd, negotiated_ms, connect_timeout, read_timeout)
        if level == _BLATHER and str(msg).startswith(_HANDSHAKE_PREFIX) and len(args) >= 3:
            self.timeouts.note(args[2])
        super().log(level, msg, *args, **kwargs)


def make_client(hosts: str, session_timeout: float, **kwargs: Any) -> KazooClient:
    """A KazooClient whose negotiated session timeout :func:`session_timeouts` reports.

    It retries its connection forever with at most 1 s between attempts (the recipe's owned
    client); ``kwargs`` go to ``KazooClient`` and may override that.
    """
    timeouts = SessionTimeouts(float(session_timeout))
    kwargs.setdefault(
        "connection_retry", KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=1.0)
    )
    client = KazooClient(
        hosts=hosts, timeout=float(session_timeout), logger=_HandshakeLogger(timeouts), **kwargs
    )
    _observed[client] = timeouts
    return client


def session_timeouts(client: KazooClient) -> SessionTimeouts | None:
    """The timeouts of a client made by :func:`make_client`; None for any other client."""
    return _observed.get(client)
