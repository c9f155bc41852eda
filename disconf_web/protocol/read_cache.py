"""The read cache of the client hot query, validated per request by a batched generation read.

Every ``/api/config/item`` and ``/api/config/file`` answer needs the hot query's row
(:data:`disconf_web.protocol.queries.ONE`: a five-table join). :class:`ReadCache` keeps, per web
process, the rows it found (bounded in bytes, least recently used first out), each tagged with
the **read generation** read in the same statement
(:data:`~disconf_web.protocol.queries.ONE_TAGGED`, so tag and row come from one snapshot). A
request may be answered from a kept row only if a generation read that **started after the
request arrived** returned a generation no newer than the row's tag (:class:`FreshnessGate`);
otherwise the query runs as before and its row replaces the kept one. Misses (no such config)
are never kept. Everything per request (the read-credential check, the gray targeting rule,
``ETag``/``304``, the MD5 check, the last-served copy) runs on a kept row exactly as on a fresh
one, so the answers are byte-identical.

Why a client can never get the previous revision after its notification
------------------------------------------------------------------------
1. Every transaction that writes a table the hot query reads increases the generation row as its
   last statement, in the same transaction (the engine hook of :mod:`disconf_web.extensions`).
   The row's lock serialises those commits, so a snapshot that sees generation ``g`` sees every
   such write whose transaction set a value up to ``g``, and a snapshot with generation ``g``
   that includes a write is exactly one whose read started after that write committed.
2. The publisher commits before it writes the ZooKeeper node (the notification is an outbox row
   of the same transaction, delivered after the commit); a client fetches after its
   notification. So: publish commit -> node write -> notification -> request arrives -> the
   gate's read *starts* (it started after the arrival, by construction) -> the gate sees the
   generation ``g_p`` set by the publish, or a later one.
3. A kept row is served only if its tag is at least the gate's value, hence at least ``g_p``:
   its snapshot contains the publish. A row kept from before the publish has a tag below
   ``g_p`` and is not served; the query runs.

This holds across any number of web nodes and processes (they share only the database) and
needs no ZooKeeper watch. "Arrived" is when the serving front had read the request whole
(``time.monotonic()`` in the environ, :data:`disconf_web.protocol.answers.RECEIVED`; the time
the cache is asked when a request comes another way): the client sent it after its
notification, so any read that started later sees the publish. Reads are shared: a request that
waited in the worker's queue while a read started and completed is answered by that read at
once; otherwise it joins the read in flight if that one started after it arrived, or waits for
the next one (at most one is in flight per process); under load the next one's start is held
for at most :data:`GATHER_SECONDS`, until :data:`GATHER_BATCH` requests wait for it, so one read
answers every app thread of the worker (an idle server never waits: only while the last read
answered more than one request). ``/metrics`` counts the reads
(``disconf_read_gate_reads``) and the lookups by result (``disconf_read_cache_lookups``). A
request that finds no kept row skips the gate and runs the tagged query directly.

SQLite (the embedded default) uses the same mechanism: the generation and the row are read by
one statement (one WAL snapshot), writers are serialised by the database lock. There a gate read
costs about what the hot query costs (no network): measured about neutral (faster on one thread,
slightly slower with four, see docs/server.md), it is kept on so that every backend runs one
code path, and the race test runs on SQLite too.

Error Handling
--------------
* A gate read that fails (refused, reset, a read timeout of a hung database) is retried once on
  a fresh connection if the error came fast; otherwise its connection is invalidated and every
  request waiting for it takes the normal path (the query, with its retry and the last-served
  answers during an outage). Never is a kept row served without a gate read that succeeded.
  After a failed gate read, requests go straight to the normal path (no second bound spent on
  the gate) until a query succeeds again.
* Every wait is bounded by the database timeouts: the gate read by the driver's connect and
  read timeouts (and the pool timeout for a new connection), a waiting request by
  :attr:`FreshnessGate.wait_bound` (then it takes the normal path).
* No ``read_generation`` table (migration 0008 not applied: a node restarted during an outage
  that could not migrate): the probe fails, rows are not kept and the untagged query runs; the
  probe is repeated every :data:`PROBE_INTERVAL` seconds.
* Restart: the cache is per process and starts empty. This module never talks to ZooKeeper.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cachetools import LRUCache

from .last_served import ENTRY_OVERHEAD, ServedKey
from .queries import GENERATION_READ
from .shared_gate import SharedGeneration

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PROBE_INTERVAL",
    "FreshnessGate",
    "GenerationReader",
    "ReadCache",
    "database_errors",
]

log = logging.getLogger(__name__)

#: Default bound of the kept rows, in bytes (``READ_CACHE_MAX_BYTES``; 0 turns the cache off).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

#: At most this long a round's start is held to gather the requests arriving with it (only
#: while the last round answered more than one: an idle server never waits), and
GATHER_SECONDS = 0.0005
#: the number of requests after which it starts at once (the app threads of a worker).
GATHER_BATCH = 4  # = disconf_web.serving.THREADS (a test checks)

#: Seconds between two probes of the generation table while it cannot be read.
PROBE_INTERVAL = 30.0

Row = tuple[Any, ...]


def database_errors(engine: sa.Engine) -> tuple[type[BaseException], ...]:
    """What a read on ``engine`` raises when the database fails it."""
    dbapi = engine.dialect.loaded_dbapi
    return (dbapi.Error, sa.exc.DBAPIError, sa.exc.TimeoutError)


class GenerationReader:
    """The gate's one statement, on a connection of ``engine`` (the AUTOCOMMIT reader) kept for
    it: one round trip per read, no pool checkout. After an error the connection is invalidated;
    an error that came within ``retry_within`` seconds (a dropped idle connection) is retried
    once on a fresh one, a slower one (a timeout) is not."""

    def __init__(self, engine: sa.Engine, retry_within: float) -> None:
        self.engine = engine
        self.retry_within = retry_within
        self.sql = GENERATION_READ.compile(dialect=engine.dialect).string
        self.errors = database_errors(engine)
        self._raw: Any = None

    def __call__(self) -> int:
        for attempt in (1, 2):
            started = time.monotonic()
            try:
                if self._raw is None:
                    self._raw = self.engine.raw_connection()
                row = self._read(self._raw.dbapi_connection)
            except self.errors as exc:
                log.debug("generation read failed (try %d/2): %r", attempt, exc)
                self._drop()
                if attempt == 2 or time.monotonic() - started >= self.retry_within:
                    raise
                continue
            if row is None or row[0] is None:
                raise LookupError("the read_generation row is missing")
            return int(row[0])
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, connection: Any) -> Any:
        if hasattr(connection, "store_result"):  # mysqlclient: its C API, no cursor object
            connection.query(self.sql)
            rows = connection.store_result().fetch_row()
            return rows[0] if rows else None
        cursor = connection.cursor()
        try:
            cursor.execute(self.sql)
            return cursor.fetchone()
        finally:
            cursor.close()

    def _drop(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.invalidate()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close too
                log.debug("invalidating the generation connection failed", exc_info=True)

    def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()


def _ignore(*_args: Any) -> None:
    return None


class FreshnessGate:
    """Generation reads shared by the requests of one process, each answer from a read that
    started after the asking request arrived (see the module docstring).

    A request passes the time it *arrived* (``time.monotonic()`` when the serving front had
    read it whole; the time of the call when not given): any read that started later answers
    it. So a request that waited in the worker's queue while a read ran is answered by that
    read at once, and a read is needed only when none started after the arrival: at most one
    is in flight per process; a request that arrived after the one in flight started waits for
    the next (at most :attr:`wait_bound` seconds); the next one's start is held for at most
    :attr:`gather` seconds until :attr:`batch` requests wait for it, when the last round
    answered more than one (an idle server never waits). ``read`` returns the generation or
    raises; a failed round answers ``None``."""

    def __init__(
        self,
        read: Callable[[], int],
        *,
        wait_bound: float,
        errors: tuple[type[BaseException], ...] = (Exception,),
        gather: float = GATHER_SECONDS,
        batch: int = GATHER_BATCH,
        shared: SharedGeneration | None = None,
    ) -> None:
        self.read = read
        self.shared = shared
        self.shared_answers = 0  # requests answered by another worker's read (for tests)
        self.wait_bound = wait_bound
        self.errors = errors + (LookupError,)
        self.gather = gather
        self.batch = max(1, batch)
        self.reads = 0  # rounds completed (for tests and metrics)
        self.waiting = 0  # requests waiting for a round right now
        lock = threading.Lock()
        self._cond = threading.Condition(lock)
        self._gathered = threading.Condition(lock)  # the round's starter, while gathering
        self._started = 0  # rounds started
        self._done = 0  # rounds completed
        self._in_flight = False
        self._gathering = False
        self._flight_began = -math.inf  # when the round in flight started its read
        self._last_began = -math.inf  # when the last completed round started its read
        self._value: int | None = None  # what the last completed round read
        self._pending = 0  # requests waiting for the next round to start
        self._joined = 0  # requests of the round in flight
        self._last_joined = 0  # requests the last completed round answered
        #: Called after each round (``/metrics``).
        self.observe_round: Callable[[], None] = _ignore

    def current(self, arrived: float | None = None) -> int | None:
        """The generation read by a round that started after ``arrived`` (default: now); None
        if that round failed or none completed within :attr:`wait_bound`."""
        if arrived is None:
            arrived = time.monotonic()
        if self.shared is not None:
            latest = self.shared.latest()
            if latest is not None and latest[0] > arrived:
                self.shared_answers += 1
                return latest[1]  # a read of any worker that started after the arrival
        with self._cond:
            if self._last_began > arrived:
                return self._value  # a read that started after the arrival has completed
            if self._in_flight and not self._gathering and self._flight_began > arrived:
                target = self._started  # the read in flight started after the arrival
                self._joined += 1
            else:
                target = self._started + 1
                self._pending += 1
                if self._gathering and self._pending >= self.batch:
                    self._gathered.notify()
            deadline = time.monotonic() + self.wait_bound
            while self._done < target:
                if not self._in_flight:
                    self._in_flight = True
                    if self.gather > 0 and self._last_joined > 1 and self._pending < self.batch:
                        self._gather()
                    self._started += 1  # == target: rounds before it have all completed
                    self._joined, self._pending = self._pending, 0
                    self._flight_began = time.monotonic()  # the read starts after this
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if self._started < target:
                        self._pending -= 1
                    return None
                self.waiting += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self.waiting -= 1
            else:
                return self._value
        return self._run_round()

    def _gather(self) -> None:
        """Hold the round's start (lock held, released while waiting) for at most
        :attr:`gather` seconds, until :attr:`batch` requests wait for it: under load the other
        app threads reach the gate a few microseconds after the first, and one read then
        answers them all. The read starts after the gathering, so after every arrival."""
        self._gathering = True
        try:
            self._gathered.wait(self.gather)
        finally:
            self._gathering = False

    def _run_round(self) -> int | None:
        value: int | None = None
        try:
            value = self.read()
        except self.errors as exc:
            log.warning("generation read failed: %r (requests take the database path)", exc)
        finally:
            with self._cond:
                self._done = self._started
                self._value = value
                self._last_began = began = self._flight_began
                self._in_flight = False
                self._last_joined = self._joined
                self.reads += 1
                self._cond.notify_all()
        if value is not None and self.shared is not None:
            self.shared.offer(began, value)
        self.observe_round()
        return value


@dataclass(frozen=True)
class _Kept:
    tag: int
    row: Row


def _size(kept: _Kept) -> int:
    return ENTRY_OVERHEAD + sum(len(v) for v in kept.row if isinstance(v, str))


class ReadCache:
    """The kept rows of one app's hot query (see the module docstring)."""

    def __init__(self, gate: FreshnessGate, max_bytes: int) -> None:
        self.gate = gate
        self._rows: LRUCache[ServedKey, _Kept] = LRUCache(maxsize=max_bytes, getsizeof=_size)
        self._lock = threading.Lock()
        self._tagging = False  # the generation table has been read: run the tagged query
        self._next_probe = 0.0
        self._bypass = False  # the last gate read failed: skip the gate until a query succeeds
        #: Called with each lookup's result: ``hit`` (a kept row the gate proved current),
        #: ``stale`` (kept, but older than the gate's generation), ``miss`` (nothing kept) or
        #: ``unchecked`` (the gate could not be read: the query ran) (``/metrics``).
        self.observe: Callable[[str], None] = _ignore

    def tagging(self) -> bool:
        """Whether to run the tagged query; probes the generation table at most every
        :data:`PROBE_INTERVAL` seconds until it has been read once."""
        if self._tagging:
            return True
        now = time.monotonic()
        if now < self._next_probe:
            return False
        self._next_probe = now + PROBE_INTERVAL
        self._tagging = self.gate.current() is not None
        return self._tagging

    def fresh(self, key: ServedKey, arrived: float | None = None) -> Row | None:
        """The kept row of ``key`` if a gate read that started after the request arrived
        (``arrived``, ``time.monotonic()``; default: now) proves it current; None otherwise
        (the caller runs the query)."""
        with self._lock:
            kept = self._rows.get(key)
        if kept is None or self._bypass:
            self.observe("miss" if kept is None else "unchecked")
            return None
        generation = self.gate.current(arrived)
        if generation is None:
            self._bypass = True
            self.observe("unchecked")
            return None
        if kept.tag >= generation:
            self.observe("hit")
            return kept.row
        self.observe("stale")
        return None

    def put(self, key: ServedKey, tag: int | None, row: Row) -> None:
        """Keep ``row`` (read with generation ``tag``), unless a newer one is kept already."""
        self._bypass = False
        if tag is None:
            return
        kept = _Kept(int(tag), row)
        with self._lock:
            current = self._rows.get(key)
            if current is not None and current.tag > kept.tag:
                return
            try:
                self._rows[key] = kept
            except ValueError:  # larger than the whole bound
                self._rows.pop(key, None)

    def discard(self, key: ServedKey) -> None:
        """Forget ``key`` (the query found no such config)."""
        self._bypass = False
        with self._lock:
            self._rows.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)
