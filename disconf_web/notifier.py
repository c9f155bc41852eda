"""The outbox deliverer: brings the durable ``Notification`` rows to ZooKeeper, one node at a time.

A change is committed together with its ``Notification`` row (see :mod:`.services.configs` and
:mod:`.outbox`). Delivering a node means: create it with its parents if it is missing, then
``set`` the spec's payload of the node's **latest** row (item: the raw value; file: the content
as a JSON string literal), then mark every pending row of that node up to the latest delivered.
Two paths deliver, through this process's :class:`~disconf_web.zookeeper.ZooKeeperConnection`:

* inline: right after the commit, the request calls :meth:`Notifier.deliver_through` for the
  nodes of its own rows, bounded by ``NOTIFY_INLINE_TIMEOUT`` in total; it never takes a lock
  the sweeper holds, so it never waits for the sweeper; the API answers ``"delivered"``,
  ``"pending"`` or ``"failed"``;
* the sweeper: one daemon thread per process sweeps pending rows in id order, node by node, at
  start-up (after the start-up repair) and every ``NOTIFY_SWEEP_INTERVAL`` seconds, and at once
  when the ZooKeeper connection comes back.

Isolation: rows are delivered per node. A row ZooKeeper refuses for a permanent reason (a node
name it cannot store, data over ``NOTIFY_MAX_DATA_BYTES``, ``BadArguments``, ``Marshalling``,
``InvalidACL``) is marked **failed** with its error and skipped; a transient failure (timeout,
connection loss) leaves that node's rows pending and delays only that node — every other node
is still delivered in the same sweep. Failed rows come back through ``outbox.retry`` (admin API).

Ordering across processes: several processes (gunicorn workers, web nodes) deliver concurrently.
A node never moves back to an older revision: each delivery reads the node's ``stat`` first,
then reads the node's latest row from the database, then writes with ``set(version=stat)``; if
another deliverer wrote in between, the versioned set fails and the delivery starts over (at
most ``MAX_ROUNDS`` times). Any write that succeeds therefore read the database after every
earlier successful write, so it carries their revision or a newer one. A node delivered twice
is harmless (clients re-download), and a row is never marked delivered before ZooKeeper holds
its revision or a newer one, so none is lost.

The publish's own delivery (:meth:`Notifier.deliver_own`) takes both reads before the ``set``
off the client's path, keeping that proof. The stat may be read at any time before the database
read, so the publisher starts it (:meth:`Notifier.read_stat_early`, not waiting) when the
request begins, and it travels while the publish guard and the transaction run. And when
ZooKeeper had already answered it before the publish's transaction committed
(:meth:`EarlyStat.seal`, called right before the commit), the database read is not needed
either: the config row lock makes the publish's new row the node's latest when it commits, and
every write that succeeded before the stat read had read the database before that commit, so
it carried an older row; the publish writes its own row's data with ``set(version=stat)``. A
stat answered later is followed by the usual database read. Any failed versioned set starts the
usual loop over; nothing is remembered across publishes (a node deleted and re-created
restarts its version count).

Error Handling
--------------
* ZooKeeper down at start, ``SUSPENDED`` or paused: requests never wait beyond the inline budget
  (every ZooKeeper call waits at most the budget's remainder); writes answer
  ``"notification": "pending"`` and the sweeper retries with exponential backoff
  (``NOTIFY_BACKOFF_INITIAL`` doubling up to ``NOTIFY_BACKOFF_MAX``).
* Session ``LOST``: kazoo opens a new session by itself; this module holds no ephemeral nodes or
  watches; the connection listener only sets an event and the sweeper delivers what is pending.
* Database down: the sweep fails, is logged and retried with the same backoff; an inline
  delivery answers "pending".
* Restart: pending rows stay in the database; any process's sweeper delivers them (the first
  sweep of a process ignores ``NOTIFY_GRACE``); the start-up repair fails pending rows that can
  never be stored, so a database poisoned before this version drains.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    InvalidACLError,
    MarshallingError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
)

from disconf_core import DisconfError

from . import outbox
from .extensions import Database
from .outbox import NodeKey, OutboxRow
from .zookeeper import ZooKeeperConnection, ZooKeeperUnavailable, node_path_problem

__all__ = ["DeliveryRefused", "EarlyStat", "Notifier", "ZooKeeperUnavailable"]

log = logging.getLogger(__name__)

BATCH = 200
# Sweeps go through at most this many batches (then the next sweep continues).
MAX_BATCHES = 50
# A node's delivery starts over at most this often when other deliverers keep writing it.
MAX_ROUNDS = 16
# ZooKeeper's default jute.maxbuffer is 0xfffff bytes for a whole request; keep room for the path.
DEFAULT_MAX_DATA_BYTES = 0xFFFFF - 8192

# ZooKeeper's answers that will be the same on every retry.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    BadArgumentsError,
    MarshallingError,
    InvalidACLError,
    NoChildrenForEphemeralsError,
    ValueError,
    TypeError,
)


class _Outcome:
    """A node's delivery that delivered nothing: :data:`FAILED` or :data:`PENDING`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


FAILED = _Outcome("FAILED")  # refused for good: the rows are marked failed
PENDING = _Outcome("PENDING")  # transient: the rows stay pending, only this node waits


class DeliveryRefused(DisconfError):
    """ZooKeeper can never store this node's notification (the row is marked failed)."""


class EarlyStat:
    """A node's stat read, sent before the publish that adds the node's row commits
    (:meth:`Notifier.read_stat_early`; see "Ordering" in the module docstring)."""

    def __init__(self, path: str, answer: Any) -> None:
        self.path = path
        self._answer = answer
        self.answered_before_commit = False

    def seal(self) -> None:
        """Call right before the commit of the transaction that adds the node's row: records
        whether ZooKeeper has answered already (only then may the delivery skip the database
        read)."""
        self.answered_before_commit = bool(self._answer.ready())

    def result(self, deadline: float) -> Any:
        """The node's ``ZnodeStat`` (None: no node), waiting at most until ``deadline``."""
        return self._answer.get(timeout=_remaining(deadline))


@dataclass(frozen=True)
class _FirstRound:
    """What the first round of a node's delivery already has: the early stat, and the row
    the publish committed after it (written without a database read when the stat was
    answered before that commit)."""

    early: EarlyStat
    row: OutboxRow


class Notifier:
    """The outbox deliverer of one app: inline delivery plus the per-process sweeper thread."""

    def __init__(
        self,
        db: Database,
        connection: ZooKeeperConnection,
        *,
        inline_timeout: float = 1.0,
        sweep_interval: float = 2.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 30.0,
        grace: float = 1.0,
        max_data_bytes: int = DEFAULT_MAX_DATA_BYTES,
    ) -> None:
        self.db = db
        self.connection = connection
        self.inline_timeout = inline_timeout
        self.sweep_interval = sweep_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.grace = grace
        self.max_data_bytes = max_data_bytes
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        connection.add_listener(self._on_state)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.connection.enabled

    @property
    def hosts(self) -> str:
        return self.connection.hosts

    @property
    def connected(self) -> bool:
        """Non-blocking: is this process's ZooKeeper session connected right now?"""
        return self.connection.connected

    @property
    def _zk(self) -> KazooClient | None:  # the raw session (tests expire it)
        return self.connection.kazoo

    def ensure_started(self) -> None:
        """Start this process's ZooKeeper session and sweeper thread if not done yet (cheap)."""
        if not self.enabled or self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self.connection.ensure_started()
            self._stopping = threading.Event()
            self._wake = threading.Event()
            self._thread = threading.Thread(target=self._run, name="disconf-notifier", daemon=True)
            self._thread.start()
            self._pid = os.getpid()
            log.info("notifier started (ZooKeeper %s)", self.hosts)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the sweeper and close the ZooKeeper session (only in the owning process)."""
        with self._lock:
            owned = self._pid == os.getpid()
            self._stopping.set()
            self._wake.set()
            thread, self._thread = self._thread, None
            self._pid = None
        if thread is not None and owned:
            thread.join(timeout)
        self.connection.stop()

    def _on_state(self, state: str) -> None:
        # A kazoo listener: it must never block. Wake the sweeper when (re)connected.
        if state == KazooState.CONNECTED:
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # -- delivery ------------------------------------------------------------------------------

    def _inline_deadline(self, timeout: float | None) -> float | None:
        """When an inline delivery must give up (``timeout``, else ``NOTIFY_INLINE_TIMEOUT``);
        None when ZooKeeper is not connected (the sweeper is woken to deliver later)."""
        if not self.connected:
            self._wake.set()
            return None
        return time.monotonic() + (self.inline_timeout if timeout is None else timeout)

    def deliver_through(self, ids: Sequence[int], timeout: float | None = None) -> bool:
        """Inline: deliver the nodes of ``ids`` within the budget; True if all are delivered.

        Never waits for a disconnected ZooKeeper nor for the sweeper."""
        return self.deliver_inline(ids, timeout) == "delivered"

    def deliver_inline(self, ids: Sequence[int], timeout: float | None = None) -> str:
        """Like :meth:`deliver_through`; answers ``"delivered"``, ``"pending"`` or ``"failed"``."""
        if not ids:
            return "none"
        deadline = self._inline_deadline(timeout)
        if deadline is None:
            return "pending"
        failed = False
        try:
            groups = outbox.group_by_node(outbox.load_rows(self.db, ids))
            for key, row_ids in groups.items():
                if time.monotonic() >= deadline:
                    break  # the budget is spent: the sweeper delivers the rest
                if self._deliver_group(key, row_ids, deadline) is FAILED:
                    failed = True
            if outbox.all_delivered(self.db, ids):
                return "delivered"
        except Exception as exc:  # noqa: BLE001 - the sweeper retries; the request must succeed
            log.warning("inline notification delivery failed (will retry): %s", exc)
        self._wake.set()
        return "failed" if failed else "pending"

    def read_stat_early(self, path: str) -> EarlyStat | None:
        """Send the stat read of ``path`` now without waiting for it (for :meth:`deliver_own`);
        None when ZooKeeper is disabled or not connected or ``path`` cannot be a node (the
        delivery then reads the stat itself)."""
        if not self.enabled or node_path_problem(path) is not None:
            return None
        self.ensure_started()
        if not self.connected:
            return None
        try:
            return EarlyStat(path, self.connection.client().exists_async(path))
        except Exception as exc:  # noqa: BLE001 - the delivery reads the stat itself
            log.info("early stat read of %s not sent: %s", path, exc)
            return None

    def deliver_own(
        self,
        rows: Sequence[OutboxRow],
        early: Mapping[str, EarlyStat],
        timeout: float | None = None,
    ) -> str:
        """Inline delivery of the rows a publish has just committed (the caller knows them:
        no database read to find them), with the stat reads it sent early (``early``, by
        path); answers like :meth:`deliver_inline`. A node without an early stat is delivered
        as :meth:`deliver_inline` does."""
        if not rows:
            return "none"
        deadline = self._inline_deadline(timeout)
        if deadline is None:
            return "pending"
        failed = False
        left: list[bool] = []  # per node: some row of ``rows`` is not delivered yet
        try:
            groups: dict[NodeKey, list[OutboxRow]] = {}
            for row in rows:
                groups.setdefault(row.key, []).append(row)
            for key, own in groups.items():
                if time.monotonic() >= deadline:
                    left.append(True)
                    break  # the budget is spent: the sweeper delivers the rest
                ids = [row.id for row in own]
                newest = max(own, key=lambda row: row.id)
                stat = early.get(key.path)

                def settle(key: NodeKey, up_to: int, ids: list[int] = ids) -> int:
                    marked, undelivered = outbox.settle(self.db, key, up_to, ids)
                    left.append(undelivered > 0)
                    return marked

                outcome = self._deliver_group(
                    key,
                    ids,
                    deadline,
                    first=None if stat is None else _FirstRound(stat, newest),
                    settle=settle,
                )
                if outcome is FAILED:
                    failed = True
                if isinstance(outcome, _Outcome):
                    left.append(True)
            if not any(left):
                return "delivered"
        except Exception as exc:  # noqa: BLE001 - the sweeper retries; the request must succeed
            log.warning("inline notification delivery failed (will retry): %s", exc)
        self._wake.set()
        return "failed" if failed else "pending"

    def sweep(self, *, grace: float | None = None, timeout: float = 30.0) -> int:
        """Deliver pending rows node by node (in order of each node's first row); how many rows
        were delivered. A node that fails transiently is skipped for the rest of this sweep."""
        self.connection.client()  # raises ZooKeeperUnavailable when not connected
        deadline = time.monotonic() + timeout
        grace = self.grace if grace is None else grace
        delivered = 0
        tried: set[NodeKey] = set()
        after_id = 0
        for _ in range(MAX_BATCHES):
            rows = outbox.load_pending(self.db, after_id=after_id, grace=grace, limit=BATCH)
            if not rows:
                break
            after_id = rows[-1].id
            for key, row_ids in outbox.group_by_node(rows).items():
                if key in tried:
                    continue  # this node was handled (or failed transiently) in this sweep
                tried.add(key)
                if time.monotonic() >= deadline:
                    return delivered
                outcome = self._deliver_group(key, row_ids, deadline)
                if isinstance(outcome, int):
                    delivered += outcome
                elif outcome is PENDING and not self.connected:
                    raise ZooKeeperUnavailable(f"ZooKeeper {self.hosts} went away")
            if len(rows) < BATCH:
                break
        return delivered

    def repair(self) -> int:
        """Start-up repair: fail pending rows whose node path ZooKeeper can never hold; how many.
        (Oversized data is found by the first delivery try of each node.)"""
        failed = 0
        after_id = 0
        for _ in range(MAX_BATCHES):
            rows = outbox.load_pending(self.db, after_id=after_id, grace=0.0, limit=BATCH)
            if not rows:
                break
            after_id = rows[-1].id
            for key, row_ids in outbox.group_by_node(rows).items():
                problem = node_path_problem(key.path)
                if problem is not None:
                    failed += outbox.mark_failed(self.db, key, max(row_ids), problem)
            if len(rows) < BATCH:
                break
        if failed:
            log.warning("failed %d pending notification(s) ZooKeeper cannot store", failed)
        return failed

    def _deliver_group(
        self,
        key: NodeKey,
        row_ids: list[int],
        deadline: float,
        *,
        first: _FirstRound | None = None,
        settle: Callable[[NodeKey, int], int] | None = None,
    ) -> int | _Outcome:
        """Deliver one node: how many rows were delivered, or :data:`FAILED` / :data:`PENDING`.
        Never raises for ZooKeeper's answers; the rows' state records what happened.
        ``settle(key, up_to)`` marks the rows once the node holds row ``up_to``'s data
        (default: :func:`outbox.mark_delivered`)."""
        try:
            written = self._write_newest(key, deadline, first)
            if written is None:
                return 0  # the rows vanished (never in practice): nothing to deliver
            if settle is None:
                return outbox.mark_delivered(self.db, key, written.id)
            return settle(key, written.id)
        except DeliveryRefused as exc:
            log.warning("notification for %s refused for good: %s", key.path, exc)
            outbox.mark_failed(self.db, key, max(row_ids), f"refused: {exc}")
            return FAILED
        except PERMANENT_ERRORS as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("ZooKeeper refused the notification for %s: %s", key.path, error)
            outbox.mark_failed(self.db, key, max(row_ids), f"refused by ZooKeeper: {error}")
            return FAILED
        except Exception as exc:  # noqa: BLE001 - transient: only this node waits
            error = f"{type(exc).__name__}: {exc}"
            log.info("notification for %s not delivered yet: %s", key.path, error)
            try:
                outbox.mark_attempt(self.db, row_ids, error)
            except Exception:  # noqa: BLE001 - the database went away too; retried later
                log.warning("could not record the failed attempt for %s", key.path)
            return PENDING

    def _write_newest(
        self, key: NodeKey, deadline: float, first: _FirstRound | None = None
    ) -> OutboxRow | None:
        """Write the node's latest row (see "Ordering"); the row written, or None when the node
        has no row. ``first``: the early stat (and the publish's own row) of the first round."""
        problem = node_path_problem(key.path)
        if problem is not None:
            raise DeliveryRefused(problem)
        for _ in range(MAX_ROUNDS):
            zk = self.connection.client()
            # Read the node first, then the database: a successful versioned set below proves
            # no one wrote the node since, so what we write is at least as new as their write.
            if first is not None:
                stat = first.early.result(deadline)
                # Answered before the commit of ``first.row``: that row is the newest a reader
                # could see after the stat, so it stands for the database read.
                row = (
                    first.row if first.early.answered_before_commit else outbox.latest(self.db, key)
                )
                first = None
            else:
                stat = zk.exists_async(key.path).get(timeout=_remaining(deadline))
                row = outbox.latest(self.db, key)
            if row is None:
                return None
            data = row.data.encode("utf-8")
            if len(data) > self.max_data_bytes:
                raise DeliveryRefused(
                    f"data too large for ZooKeeper: {len(data)} bytes, the limit is "
                    f"{self.max_data_bytes} (NOTIFY_MAX_DATA_BYTES)"
                )
            if stat is None:
                try:
                    zk.create_async(key.path, b"", makepath=True).get(timeout=_remaining(deadline))
                except NodeExistsError:
                    pass  # a client or another deliverer created it: read its stat again
                continue
            try:
                zk.set_async(key.path, data, version=stat.version).get(timeout=_remaining(deadline))
            except (BadVersionError, NoNodeError):
                continue  # another deliverer wrote (or someone deleted) the node: start over
            return row
        raise TimeoutError(f"node {key.path} kept changing under {MAX_ROUNDS} delivery tries")

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
                if first:
                    self.repair()
                count = self.sweep(grace=0.0 if first else None)
                if count:
                    log.info("delivered %d pending notification(s)", count)
                first = False
                backoff = self.backoff_initial
                delay = self.sweep_interval  # a node that failed transiently: next sweep
            except Exception as exc:  # noqa: BLE001 - retried with backoff
                log.warning("notification sweep failed, retrying in %.1fs: %s", backoff, exc)
                delay = backoff
                backoff = min(backoff * 2, self.backoff_max)


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("notification delivery time budget exhausted")
    return remaining
