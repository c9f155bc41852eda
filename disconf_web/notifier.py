"""Delivers the durable ``Notification`` rows to ZooKeeper, so clients hear about changes.

A change is committed together with its ``Notification`` row (see :mod:`.services.configs`).
Delivery means: create the config's node with its parents if it is missing, then ``set`` the
spec's payload on it (item: the raw value; file: the content as a JSON string literal), then mark
the row delivered. Two paths deliver:

* fast path: right after the commit, the request calls :meth:`Notifier.deliver_through` for its
  own rows (a short bounded attempt, so a publish reaches clients in milliseconds); the API
  answers ``"notification": "delivered"`` or ``"pending"``;
* slow path: one daemon thread per process sweeps pending rows in id order, at start-up (what an
  earlier process left pending is delivered) and then every ``NOTIFY_SWEEP_INTERVAL`` seconds,
  and at once when the ZooKeeper connection comes back.

Several processes may share one database and ZooKeeper: each delivers pending rows in id order;
a row delivered twice is harmless (clients ignore the data and re-download), a row is never
marked delivered before ZooKeeper accepted it, so none is lost.

The ``KazooClient`` is created lazily in the process that uses it (after a gunicorn fork; a
change of ``os.getpid()`` makes a new one) and started without waiting; it retries connecting
forever in the background.

Error Handling
--------------
* ZooKeeper down at start, or connection ``SUSPENDED``: requests never wait for it, since
  :attr:`Notifier.connected` is a non-blocking state check; writes still succeed with
  ``"notification": "pending"`` and the sweeper retries with exponential backoff
  (``NOTIFY_BACKOFF_INITIAL`` doubling up to ``NOTIFY_BACKOFF_MAX``).
* Session ``LOST`` (expired): kazoo opens a new session by itself; the server holds no
  ephemeral nodes or watches, so nothing needs re-creating. The connection listener only sets an
  event (it never blocks the kazoo thread) and the sweeper delivers what is pending.
* A delivery that fails or times out leaves its row pending (``attempts`` and ``last_error``
  recorded) and stops the sweep, so later rows are not delivered out of order.
* Database down: the sweep fails, is logged, and is retried with the same backoff.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NodeExistsError, NoNodeError

from .extensions import Database
from .models import Notification, utcnow

__all__ = ["InstanceData", "Notifier", "ZooKeeperUnavailable"]

log = logging.getLogger(__name__)

_BATCH = 200


class ZooKeeperUnavailable(Exception):
    """ZooKeeper is not connected right now (the caller answers 503 or 'pending')."""


@dataclass(frozen=True)
class InstanceData:
    """One client instance node under a config node."""

    name: str
    data: bytes


class Notifier:
    """Per-process ZooKeeper connection plus the pending-notification sweeper."""

    def __init__(
        self,
        db: Database,
        hosts: str,
        *,
        enabled: bool = True,
        session_timeout: float = 10.0,
        inline_timeout: float = 1.0,
        sweep_interval: float = 2.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 30.0,
        grace: float = 1.0,
    ) -> None:
        self.db = db
        self.hosts = hosts
        self.enabled = enabled
        self.session_timeout = session_timeout
        self.inline_timeout = inline_timeout
        self.sweep_interval = sweep_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.grace = grace
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._zk: KazooClient | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._deliver_lock = threading.Lock()
        self.delivered_count = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Create this process's ZooKeeper client and sweeper thread if not done yet (cheap)."""
        if not self.enabled or self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._stopping = threading.Event()
            self._wake = threading.Event()
            self._deliver_lock = threading.Lock()
            zk = KazooClient(
                hosts=self.hosts,
                timeout=self.session_timeout,
                connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 2},
                command_retry={"max_tries": 0},
            )
            zk.add_listener(self._on_state)
            zk.start_async()
            self._zk = zk
            self._thread = threading.Thread(target=self._run, name="disconf-notifier", daemon=True)
            self._thread.start()
            self._pid = os.getpid()
            log.info("notifier started (ZooKeeper %s)", self.hosts)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the sweeper and close the ZooKeeper session (only in the owning process)."""
        with self._lock:
            if self._pid != os.getpid():
                self._pid = None
                return
            self._stopping.set()
            self._wake.set()
            thread, self._thread = self._thread, None
            zk, self._zk = self._zk, None
            self._pid = None
        if thread is not None:
            thread.join(timeout)
        if zk is not None:
            try:
                zk.stop()
            finally:
                zk.close()

    @property
    def connected(self) -> bool:
        """Non-blocking: is this process's ZooKeeper session connected right now?"""
        zk = self._zk
        return zk is not None and self._pid == os.getpid() and zk.state == KazooState.CONNECTED

    def _on_state(self, state: str) -> None:
        # A kazoo listener: it must never block. Wake the sweeper when (re)connected.
        if state == KazooState.CONNECTED:
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # -- delivery ------------------------------------------------------------------------------

    def deliver_through(self, ids: Sequence[int], timeout: float | None = None) -> bool:
        """Fast path: deliver pending rows up to ``max(ids)`` in order; True if all of ``ids``
        are delivered. Never waits for a disconnected ZooKeeper."""
        if not ids:
            return True
        if not self.connected:
            return False
        budget = self.inline_timeout if timeout is None else timeout
        try:
            self._deliver_pending(max(ids), time.monotonic() + budget, grace=0.0)
        except Exception as exc:  # noqa: BLE001 - the sweeper retries; the request must succeed
            log.warning("inline notification delivery failed (will retry): %s", exc)
            self._wake.set()
        return self._all_delivered(ids)

    def _all_delivered(self, ids: Sequence[int]) -> bool:
        try:
            with self.db.new_session() as session:
                pending = session.scalar(
                    sa.select(sa.func.count())
                    .select_from(Notification)
                    .where(Notification.id.in_(list(ids)), Notification.delivered_at.is_(None))
                )
            return pending == 0
        except Exception:  # noqa: BLE001
            log.exception("could not read notification state")
            return False

    def sweep(self, *, grace: float | None = None, timeout: float = 30.0) -> int:
        """Deliver every pending row (in id order); returns how many were delivered."""
        if not self.connected:
            raise ZooKeeperUnavailable(f"ZooKeeper {self.hosts} is not connected")
        return self._deliver_pending(
            None, time.monotonic() + timeout, grace=self.grace if grace is None else grace
        )

    def _deliver_pending(self, up_to: int | None, deadline: float, *, grace: float) -> int:
        delivered = 0
        with self._deliver_lock:
            while True:
                rows = self._load_pending(up_to, grace)
                if not rows:
                    return delivered
                done: list[int] = []
                try:
                    for row_id, path, data in rows:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise TimeoutError("notification delivery time budget exhausted")
                        self._set(path, data.encode("utf-8"), remaining)
                        done.append(row_id)
                except Exception as exc:
                    failed = rows[len(done)][0]
                    self._mark(done, failed=failed, error=f"{type(exc).__name__}: {exc}")
                    raise
                self._mark(done)
                delivered += len(done)
                self.delivered_count += len(done)
                if len(rows) < _BATCH:
                    return delivered

    def _load_pending(self, up_to: int | None, grace: float) -> list[tuple[int, str, str]]:
        query = (
            sa.select(Notification.id, Notification.path, Notification.data)
            .where(Notification.delivered_at.is_(None))
            .order_by(Notification.id)
            .limit(_BATCH)
        )
        if up_to is not None:
            query = query.where(Notification.id <= up_to)
        if grace > 0:
            query = query.where(Notification.created_at <= utcnow() - timedelta(seconds=grace))
        with self.db.new_session() as session:
            return [(row.id, row.path, row.data) for row in session.execute(query)]

    def _mark(self, done: list[int], *, failed: int | None = None, error: str = "") -> None:
        with self.db.new_session() as session:
            if done:
                session.execute(
                    sa.update(Notification)
                    .where(Notification.id.in_(done))
                    .values(delivered_at=utcnow(), attempts=Notification.attempts + 1)
                )
            if failed is not None:
                session.execute(
                    sa.update(Notification)
                    .where(Notification.id == failed)
                    .values(attempts=Notification.attempts + 1, last_error=error[:1000])
                )
            session.commit()

    def _client(self) -> KazooClient:
        zk = self._zk
        if zk is None or not self.connected:
            raise ZooKeeperUnavailable(f"ZooKeeper {self.hosts} is not connected")
        return zk

    def _set(self, path: str, data: bytes, timeout: float) -> None:
        zk = self._client()
        try:
            zk.set_async(path, data).get(timeout=timeout)
            return
        except NoNodeError:
            pass
        try:
            zk.create_async(path, b"", makepath=True).get(timeout=timeout)
        except NodeExistsError:
            pass
        zk.set_async(path, data).get(timeout=timeout)

    # -- reads for the self-check --------------------------------------------------------------

    def ensure_node(self, path: str, timeout: float | None = None) -> None:
        """Create ``path`` (and parents) if missing; raises :class:`ZooKeeperUnavailable`."""
        zk = self._client()
        try:
            zk.create_async(path, b"", makepath=True).get(timeout=timeout or self.inline_timeout)
        except NodeExistsError:
            pass

    def instances(self, path: str, timeout: float = 5.0) -> list[InstanceData]:
        """The instance children of a config node and their data ([] if the node is missing)."""
        zk = self._client()
        try:
            names = sorted(zk.get_children_async(path).get(timeout=timeout))
        except NoNodeError:
            return []
        result: list[InstanceData] = []
        pending: list[tuple[str, Any]] = [(name, zk.get_async(f"{path}/{name}")) for name in names]
        for name, answer in pending:
            try:
                data, _stat = answer.get(timeout=timeout)
            except NoNodeError:
                continue  # the instance went away meanwhile
            result.append(InstanceData(name, data or b""))
        return result

    def count_children(self, paths: Sequence[str], timeout: float = 2.0) -> dict[str, int]:
        """How many children each node has (pipelined ``exists``; missing nodes are left out).
        Raises :class:`ZooKeeperUnavailable` when not connected; bounded by ``timeout`` overall."""
        zk = self._client()
        deadline = time.monotonic() + timeout
        answers = [(path, zk.exists_async(path)) for path in paths]
        counts: dict[str, int] = {}
        for path, answer in answers:
            stat = answer.get(timeout=max(0.0, deadline - time.monotonic()))
            if stat is not None:
                counts[path] = int(stat.numChildren)
        return counts

    # -- the sweeper thread --------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.backoff_initial
        delay = 0.0
        first = True
        while not self._stopping.is_set():
            if delay > 0:
                self._wake.wait(delay)
            self._wake.clear()
            if self._stopping.is_set():
                return
            if not self.connected:
                delay = backoff
                backoff = min(backoff * 2, self.backoff_max)
                continue
            try:
                count = self.sweep(grace=0.0 if first else None)
                if count:
                    log.info("delivered %d pending notification(s)", count)
                first = False
                backoff = self.backoff_initial
                delay = self.sweep_interval
            except Exception as exc:  # noqa: BLE001 - retried with backoff
                log.warning("notification sweep failed, retrying in %.1fs: %s", backoff, exc)
                delay = backoff
                backoff = min(backoff * 2, self.backoff_max)
