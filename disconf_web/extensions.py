"""The database handle: one SQLAlchemy engine and a scoped session factory per process.

``Database(url)`` is usable without Flask (the CLI and the services take a plain
``so.Session``); ``init_app`` stores it in ``app.extensions["disconf_db"]`` and removes the
request's scoped session at teardown.

* SQLite (the embedded default): WAL journal, a 30 s busy timeout and foreign keys on, so
  several web workers and the notifier thread can share the file.
* MySQL/MariaDB: ``pool_pre_ping`` (connections dropped by the server are replaced), utf8mb4.

:attr:`Database.reader` is a second engine for the single-statement reads of the client hot path
(:mod:`disconf_web.fastpath`): AUTOCOMMIT (every SELECT sees the latest commit, nothing to roll
back), no pre-ping and no reset on return, so a read is one round trip on MySQL instead of three.
Its users retry once on a fresh connection after a database error instead of pinging first;
``pool_recycle`` (1 h) replaces connections before MySQL's ``wait_timeout`` drops them.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask

__all__ = ["Database", "get_db"]

EXTENSION_KEY = "disconf_db"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


class Database:
    """An engine plus a thread-local (scoped) session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = sa.make_url(url)
        options: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            options["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            options["pool_pre_ping"] = True
            options["pool_recycle"] = 3600
            if parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
                parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        self.engine = sa.create_engine(parsed, **options)
        if parsed.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_on_connect)
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
                    }
                    if sqlite:
                        options["connect_args"] = {"timeout": 30, "check_same_thread": False}
                    reader = sa.create_engine(self._url, **options)
                    if sqlite:
                        sa.event.listen(reader, "connect", _sqlite_on_connect)
                    self._reader = reader
        return self._reader

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
