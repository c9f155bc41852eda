"""The database handle: one SQLAlchemy engine and a scoped session factory per process.

``Database(url)`` is usable without Flask (the CLI and the services take a plain
``so.Session``); ``init_app`` stores it in ``app.extensions["disconf_db"]`` and removes the
request's scoped session at teardown.

* SQLite (the embedded default): WAL journal, a busy timeout and foreign keys on, so several web
  workers and the notifier thread can share the file.
* MySQL/MariaDB: ``pool_pre_ping`` (connections dropped by the server are replaced), utf8mb4.

Every wait on the database is bounded (:class:`DatabaseTimeouts`, from the ``DB_*`` settings):
connecting (``connect_timeout``), each read and each write on the socket (``read_timeout`` /
``write_timeout``: a server that accepted the connection and never answers, or a paused one,
fails the statement instead of holding a worker thread), SQLite's lock wait (``busy_timeout``)
and the wait for a pooled connection (``pool_timeout``). A statement that hits a bound raises
the driver's ``OperationalError`` (or SQLAlchemy's pool ``TimeoutError``); the app answers writes
503 and client reads from the last-served copy. ``pool_pre_ping`` may reconnect once, so a write
against a hung server fails after at most about ``connect + 2 * read`` seconds.

:attr:`Database.reader` is a second engine for the single-statement reads of the client hot path
(:mod:`disconf_web.fastpath`): AUTOCOMMIT (every SELECT sees the latest commit, nothing to roll
back), no pre-ping and no reset on return, so a read is one round trip on MySQL instead of three.
Its users retry once on a fresh connection after a database error instead of pinging first;
``pool_recycle`` (1 h) replaces connections before MySQL's ``wait_timeout`` drops them.

The read generation (:class:`ReadGenerationHook`, installed on :attr:`Database.engine`): every
transaction of this engine that wrote (INSERT/UPDATE/DELETE, or any textual statement other than
a read) one of the tables the client hot query reads
(:data:`disconf_web.protocol.queries.READ_TABLES`, derived from that query) runs
``UPDATE read_generation SET value = value + 1 WHERE id = 1`` as its last statement, right before
its commit, in the same transaction. It is done here, on the engine, so that no write path (ORM
session, ``engine.begin()``, the CLI, a service written later) can forget it; the read cache of
:mod:`disconf_web.protocol.read_cache` relies on it. The generation row is the last lock such a
transaction takes, so it adds no deadlock cycle (MySQL still may break other deadlocks: the
retry of :func:`disconf_web.services.transactions.run_transaction` runs the whole transaction,
and with it the bump, again). A schema without the table (migration 0008 not applied yet: a node
restarted during an outage) commits without the bump, and every read cache stays off until the
table is readable (its probe needs the table), so nothing is cached that a missed bump could
leave stale. A bump that fails otherwise (lost connection, lock wait timeout) fails the commit:
the write is rolled back and the caller sees SQLAlchemy's ``OperationalError`` as for any other
statement. Writes that bypass this engine (SQL typed by hand, an older server version still
running during a rolling upgrade) must bump the generation themselves, or the read caches may
serve the previous value until the next bump.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask

__all__ = ["Database", "DatabaseTimeouts", "ReadGenerationHook", "get_db"]

EXTENSION_KEY = "disconf_db"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseTimeouts:
    """The bounds of every database wait, in seconds (settings ``DB_CONNECT_TIMEOUT``,
    ``DB_READ_TIMEOUT``, ``DB_WRITE_TIMEOUT``, ``DB_POOL_TIMEOUT``, ``DB_BUSY_TIMEOUT``)."""

    connect: float = 3.0
    read: float = 5.0
    write: float = 5.0
    pool: float = 5.0
    busy: float = 10.0  # SQLite: how long a statement waits for another writer's lock

    def connect_args(self, url: sa.URL) -> dict[str, Any]:
        """The driver's own timeout arguments for ``url``."""
        backend, driver = url.get_backend_name(), url.get_driver_name()
        if backend == "sqlite":
            return {"timeout": self.busy, "check_same_thread": False}
        if backend == "mysql" and driver == "pymysql":
            return {
                "connect_timeout": self.connect,
                "read_timeout": self.read,
                "write_timeout": self.write,
            }
        if backend == "mysql" and driver == "mysqldb":  # mysqlclient takes whole seconds
            return {
                "connect_timeout": max(1, round(self.connect)),
                "read_timeout": max(1, round(self.read)),
                "write_timeout": max(1, round(self.write)),
            }
        return {}


def _sqlite_pragmas(busy_seconds: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
        finally:
            cursor.close()

    return on_connect


# The first words of textual statements that write nothing (anything else counts as a write).
_READ_WORDS = frozenset(
    {"SELECT", "SHOW", "PRAGMA", "EXPLAIN", "DESCRIBE", "SET", "SAVEPOINT", "RELEASE", "ROLLBACK"}
)
_MYSQL_NO_SUCH_TABLE = 1146


class ReadGenerationHook:
    """Bumps the read generation in every transaction that wrote one of ``tables`` (see the
    module docstring). The flag lives in the pooled connection's ``info``; commit runs the bump
    and clears it, rollback clears it, a savepoint rollback keeps it (the outer transaction may
    have written before the savepoint: a needless bump only costs a cache miss)."""

    FLAG = "disconf_read_tables_written"

    def __init__(self, tables: frozenset[str], bump_sql: str) -> None:
        self.tables = tables
        self.bump_sql = bump_sql
        self._warned = False

    def install(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "after_cursor_execute", self.after_cursor_execute)
        sa.event.listen(engine, "commit", self.commit)
        sa.event.listen(engine, "rollback", self.rollback)

    def writes(self, statement: str, context: Any) -> bool:
        """Whether a statement that ran wrote (or may have written) a watched table."""
        if context is not None and (context.isinsert or context.isupdate or context.isdelete):
            compiled = context.compiled
            table = getattr(getattr(compiled, "statement", None), "table", None)
            if table is None:
                return True  # a DML statement whose table we cannot name: count it
            return any(t.name in self.tables for t in sa.sql.util.find_tables(table))
        compiled = None if context is None else context.compiled
        if compiled is not None and not isinstance(compiled.statement, sa.TextClause):
            return False  # a compiled SELECT (or DDL-free construct) that is not DML
        words = statement.lstrip(" \t\r\n(").split(None, 1)
        return bool(words) and words[0].upper() not in _READ_WORDS

    def after_cursor_execute(
        self,
        conn: sa.Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        context: Any,
        _executemany: bool,
    ) -> None:
        if conn.info.get(self.FLAG) or not self.writes(statement, context):
            return
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            self._bump(conn)  # the write is committed already: no commit event will come
        else:
            conn.info[self.FLAG] = True

    def commit(self, conn: sa.Connection) -> None:
        if conn.info.pop(self.FLAG, False):
            self._bump(conn)

    def _bump(self, conn: sa.Connection) -> None:
        dbapi = conn.dialect.loaded_dbapi
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.bump_sql)
        except dbapi.Error as exc:
            if self._missing_table(exc):
                if not self._warned:
                    self._warned = True
                    log.warning("no read_generation table (run 'disconf-web db upgrade'): %r", exc)
                return
            raise sa.exc.DBAPIError.instance(
                self.bump_sql, None, exc, dbapi.Error, dialect=conn.dialect
            ) from exc
        finally:
            cursor.close()

    def rollback(self, conn: sa.Connection) -> None:
        if conn.invalidated:
            # The database connection died (a read timeout, a lost server): its ``info`` cannot
            # be reached until the rollback that is running now has finished, and touching it
            # raised PendingRollbackError out of the rollback, turning the request's 503 into a
            # 500. The flag is dropped by the next commit's or rollback's check anyway: at worst
            # one needless bump, which costs a cache miss.
            return
        conn.info.pop(self.FLAG, None)

    @staticmethod
    def _missing_table(exc: BaseException) -> bool:
        args = getattr(exc, "args", ())
        if args and args[0] == _MYSQL_NO_SUCH_TABLE:
            return True
        return "no such table" in str(exc)


def _read_generation_hook() -> ReadGenerationHook:
    # Imported here: the protocol package imports this module (it holds the hot query).
    from .protocol.queries import GENERATION_BUMP, READ_TABLES

    return ReadGenerationHook(READ_TABLES, GENERATION_BUMP)


class Database:
    """An engine plus a thread-local (scoped) session factory."""

    def __init__(self, url: str, *, timeouts: DatabaseTimeouts | None = None) -> None:
        self.url = url
        self.timeouts = timeouts or DatabaseTimeouts()
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        options: dict[str, Any] = {"connect_args": self.timeouts.connect_args(parsed)}
        if parsed.get_backend_name() != "sqlite":
            options["pool_pre_ping"] = True
            options["pool_recycle"] = 3600
        options.update(self._pool_options(parsed))
        self.engine = sa.create_engine(parsed, **options)
        if parsed.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas(self.timeouts.busy))
        _read_generation_hook().install(self.engine)
        self.session_factory = so.sessionmaker(self.engine, expire_on_commit=False)
        self.scoped = so.scoped_session(self.session_factory)
        self._url = parsed
        self._reader: sa.Engine | None = None
        self._reader_lock = threading.Lock()
        self._on_dispose: list[Callable[[], None]] = []

    @property
    def reader(self) -> sa.Engine:
        """The hot path's read-only engine (created on first use; see the module docstring)."""
        if self._reader is None:
            with self._reader_lock:
                if self._reader is None:
                    sqlite = self._url.get_backend_name() == "sqlite"
                    options: dict[str, Any] = {
                        "isolation_level": "AUTOCOMMIT",
                        "pool_reset_on_return": None,
                        "pool_recycle": -1 if sqlite else 3600,
                        "connect_args": self.timeouts.connect_args(self._url),
                        **self._pool_options(self._url),
                    }
                    reader = sa.create_engine(self._url, **options)
                    if sqlite:
                        sa.event.listen(reader, "connect", _sqlite_pragmas(self.timeouts.busy))
                    self._reader = reader
        return self._reader

    def _pool_options(self, url: sa.URL) -> dict[str, Any]:
        """A bounded wait for a pooled connection (not for SQLite's in-memory pools)."""
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            return {}
        return {"pool_timeout": self.timeouts.pool}

    @property
    def is_mysql(self) -> bool:
        return self.engine.dialect.name == "mysql"

    def session(self) -> so.Session:
        """The current thread's (request's) session."""
        return self.scoped()

    def new_session(self) -> so.Session:
        """A fresh session the caller closes (background threads, CLI)."""
        return self.session_factory()

    def remove(self, _exc: BaseException | None = None) -> None:
        self.scoped.remove()

    def on_dispose(self, close: Callable[[], None]) -> None:
        """Call ``close`` first in :meth:`dispose` (a user's connections held outside a pool
        checkout/return cycle, such as the read cache's generation connection)."""
        self._on_dispose.append(close)

    def dispose(self) -> None:
        for close in self._on_dispose:
            try:
                close()
            except Exception:  # noqa: BLE001 - disposing goes on whatever one user's close did
                log.debug("closing %r failed", close, exc_info=True)
        self.scoped.remove()
        self.engine.dispose()
        with self._reader_lock:
            if self._reader is not None:
                self._reader.dispose()

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION_KEY] = self
        app.teardown_appcontext(self.remove)


def get_db(app: Flask) -> Database:
    db: Database = app.extensions[EXTENSION_KEY]
    return db
