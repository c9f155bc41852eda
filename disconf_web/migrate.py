"""Run the Alembic migrations shipped inside the package, from code (CLI, quickstart, tests).

:func:`database_outage` tells ``serve`` whether the database is unreachable or hangs right now
(bounded by the database timeouts), so that a web node restarted during a database outage starts
and serves its last-served values instead of waiting on, or failing, its migrations.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from disconf_core import DisconfError

from .extensions import DatabaseTimeouts

__all__ = [
    "SchemaNotCurrent",
    "alembic_config",
    "current_revision",
    "database_outage",
    "head_revision",
    "upgrade",
]

# MySQL client errors that mean "the server is not there or does not answer" (not a bad
# password, an unknown database or a syntax error): can't connect (2002, 2003), gone away (2006),
# lost the connection or timed out (2013).
_OUTAGE_CODES = {2002, 2003, 2006, 2013}


class SchemaNotCurrent(DisconfError):
    """The database schema is not at the newest migration."""


def alembic_config(database_url: str | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", "disconf_web:migrations")
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(database_url: str) -> str | None:
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def database_outage(database_url: str, timeouts: DatabaseTimeouts | None = None) -> str | None:
    """Why the database is unreachable or hung right now, or None when it answers ``SELECT 1``
    within ``timeouts``. Other errors (bad credentials, unknown database) are raised."""
    url = sa.make_url(database_url)
    bounds = timeouts or DatabaseTimeouts()
    engine = sa.create_engine(
        url, poolclass=sa.pool.NullPool, connect_args=bounds.connect_args(url)
    )
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
        if url.get_backend_name() == "mysql" and code in _OUTAGE_CODES:
            return f"{type(exc.orig).__name__}: {exc.orig}"
        raise
    finally:
        engine.dispose()
    return None
