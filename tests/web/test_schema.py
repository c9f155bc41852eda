"""The migrations build exactly the schema the models describe, on SQLite and on MariaDB.

Alembic's autogenerate comparison of the migrated database with the models' metadata must find
no difference (tables, columns, types, indexes, unique constraints): a model changed without its
migration, or a migration that drifted from its model, fails here instead of in production.
"""

from __future__ import annotations

import importlib
import pkgutil

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import disconf_web
from disconf_web.migrate import upgrade
from disconf_web.models import Base

# Modules with side effects at import (an app built from the environment, the CLI entry point,
# Alembic's own scripts) hold no models.
_SKIP = ("disconf_web.wsgi", "disconf_web.__main__", "disconf_web.migrations")


def _import_every_model() -> None:
    """Import every module of the package, so models defined outside models.py are registered."""
    for module in pkgutil.walk_packages(disconf_web.__path__, "disconf_web."):
        if not module.name.startswith(_SKIP):
            importlib.import_module(module.name)


def test_migrations_match_the_models(database_url: str) -> None:
    _import_every_model()
    upgrade(database_url)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
