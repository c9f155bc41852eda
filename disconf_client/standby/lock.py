"""The master/standby contender lock (kazoo's ``Lock`` with bounded, cancellable retries), and
the clean-up of the locks an election gave up.

Every contender of an election holds one of these under ``<election>/``; the lowest node is the
master (see :mod:`disconf_client.standby.election`).

It overrides two private parts of kazoo's ``Lock`` (``_retry`` and ``_get_predecessor``), so
the kazoo versions it works with are pinned (``pyproject.toml``, :data:`KAZOO_TESTED`) and
``tests/standby/test_kazoo_pin.py`` fails loudly if a kazoo release changes them.

Error Handling
--------------
While ZooKeeper is unreachable the acquisition retries with at most 1 s between attempts (not
kazoo's default 60 s back-off), so a takeover follows soon after ZooKeeper is back.
``cancel()`` ends a pending acquisition, including the retry's sleep. A kazoo call already sent
on a disconnected client still waits for the connection to return or the client to be stopped;
:meth:`~disconf_client.standby.election.ActiveStandby.stop` deals with that.

* **SUSPENDED**: the acquisition's pending call fails with ``ConnectionLoss`` and is retried;
  a queued node survives, so the contender keeps its place.
* **LOST**: the node is gone with the session; the election cancels this lock and competes
  again with a new one.
* **ZooKeeper restart**: as SUSPENDED (or LOST if the session expired meanwhile).
* :class:`AbandonedLocks` (the nodes of locks an election gave up) answers False from
  ``delete()`` while ZooKeeper cannot be asked; the election tries again once CONNECTED, before
  it competes again. After LOST those nodes are gone with the session anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.recipe.lock import Lock
from kazoo.retry import KazooRetry

__all__ = ["KAZOO_TESTED", "AbandonedLocks", "ContenderLock"]

# The kazoo releases whose Lock internals this module was tested against; keep equal to the
# pin in pyproject.toml (tests/standby/test_kazoo_pin.py checks both).
KAZOO_TESTED = ">=2.11,<2.12"

log = logging.getLogger(__name__)


class ContenderLock(Lock):  # type: ignore[misc]
    """kazoo's Lock with bounded (<= 1 s), cancellable retries.

    kazoo's own retry backs off up to 60 s between attempts while ZooKeeper is unreachable,
    which would delay a takeover long after ZooKeeper is back; ``cancel()`` also interrupts
    the retry's sleep (kazoo raises ``InterruptedError``).
    """

    def __init__(self, client: KazooClient, path: str, data: bytes) -> None:
        super().__init__(client, path)
        self.data = data
        self._retry = KazooRetry(
            max_tries=-1,
            delay=0.05,
            backoff=2,
            max_delay=1.0,
            sleep_func=client.handler.sleep_func,
            interrupt=lambda: bool(self.cancelled),
        )
        self.on_queued: Callable[[], None] | None = None

    def _get_predecessor(self, node: str) -> str | None:
        """kazoo asks this with our node already created: the first time it finds someone
        ahead of us, we are a standby *in the queue* — ``on_queued`` runs then (once), so a
        standby's hooks never run while it has no node (no gap between a failed try and a
        second node, as with ``acquire(blocking=False)`` followed by ``acquire()``)."""
        predecessor: str | None = super()._get_predecessor(node)
        if predecessor is not None and self.on_queued is not None:
            callback, self.on_queued = self.on_queued, None
            callback()
        return predecessor


class AbandonedLocks:
    """Locks an election gave up whose nodes must go: deleted now, or once ZooKeeper answers.

    A lock is abandoned after a term ends, a takeover fails, or the contest is interrupted; its
    node (found by the lock's unique prefix) may still exist, e.g. after a reconnect on the same
    session, and would otherwise keep a place in the queue.
    """

    def __init__(self, client: KazooClient, path: str, label: str) -> None:
        self._zk = client
        self._path = path
        self._label = label
        self._lock = threading.Lock()
        self._prefixes: list[str] = []

    def add(self, prefix: str) -> None:
        with self._lock:
            self._prefixes.append(prefix)

    def delete(self) -> bool:
        """Delete the nodes of abandoned locks; False if ZooKeeper could not be asked."""
        with self._lock:
            prefixes = list(self._prefixes)
        if not prefixes:
            return True
        try:
            for child in self._zk.get_children(self._path):
                if any(child.startswith(prefix) for prefix in prefixes):
                    try:
                        self._zk.delete(f"{self._path}/{child}")
                    except NoNodeError:
                        pass
        except NoNodeError:
            pass
        except KazooException as exc:
            log.info("master/standby %r: will delete old lock nodes later: %r", self._label, exc)
            return False
        with self._lock:
            self._prefixes = [p for p in self._prefixes if p not in prefixes]
        return True
