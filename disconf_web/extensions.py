"""The database handle: one SQLAlchemy engine and a scoped session factory per process.

``Database(url)`` is usable without Flask (the CLI and the services take a plain
``so.Session``); ``init_app`` stores it in ``app.extensions["disconf_db"]`` and removes the
request's scoped session at teardown.

* SQLite (the embedded default): WAL journal, a 30 s busy timeout and foreign keys on, so
  several web workers and the notifier thread can share the file.
* MySQL/MariaDB: ``pool_pre_ping`` (connections dropped by the server are replaced), utf8mb4.
"""

from __future__ import annotations

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

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION_KEY] = self
        app.teardown_appcontext(self.remove)


def get_db(app: Flask) -> Database:
    db: Database = app.extensions[EXTENSION_KEY]
    return db
