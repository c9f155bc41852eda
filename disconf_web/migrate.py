"""Run the Alembic migrations shipped inside the package, from code (CLI, quickstart, tests)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from disconf_core import DisconfError

__all__ = ["SchemaNotCurrent", "alembic_config", "current_revision", "head_revision", "upgrade"]


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
