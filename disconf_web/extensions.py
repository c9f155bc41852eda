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
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask

__all__ = ["Database", "DatabaseTimeouts", "get_db"]

EXTENSION_KEY = "disconf_db"


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
        self.session_factory = so.sessionmaker(self.engine, expire_on_commit=False)
        self.scoped = so.scoped_session(self.session_factory)
        self._url = parsed
        self._reader: sa.Engine | None = None
        self._reader_lock = threading.Lock()

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

    def dispose(self) -> None:
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
