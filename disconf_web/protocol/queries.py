"""The SQL of the client endpoints, and the tables whose writes must advance the read generation.

:data:`ONE` is the hot query of ``/api/config/item`` and ``/api/config/file`` (one config, its
app's read credential and its running gray release, in one statement); :data:`ONE_TAGGED` is the
same query plus the read generation read **in the same statement**, so the row and its tag come
from one snapshot (:mod:`disconf_web.protocol.read_cache`). :data:`READ_TABLES` is derived from
:data:`ONE`'s FROM clause, never written by hand: a table added to the hot query is watched by
the write hook of :mod:`disconf_web.extensions` without anyone remembering to list it.

Error Handling
--------------
Statements only; they run in :mod:`disconf_web.protocol.answers` (database errors are handled
there). Nothing here talks to ZooKeeper.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..models import App, Config, ConfigStatus, Env, GrayRelease, ReadGeneration
from .credentials import AppReadCredential

__all__ = [
    "APP",
    "ENV",
    "GENERATION_BUMP",
    "GENERATION_READ",
    "LIST",
    "ONE",
    "ONE_TAGGED",
    "READ_TABLES",
]

_C = Config.__table__
_A = App.__table__
_E = Env.__table__
_R = AppReadCredential.__table__
_G = GrayRelease.__table__
_GEN = ReadGeneration.__table__

#: One config: value, md5, read-credential hash, gray release id, gray value, gray md5, target.
ONE = (
    sa.select(_C.c.value, _C.c.md5, _R.c.token_hash, _G.c.id, _G.c.value, _G.c.md5, _G.c.target)
    .select_from(
        _C.join(_A, _A.c.id == _C.c.app_id)
        .join(_E, _E.c.id == _C.c.env_id)
        .outerjoin(_R, _R.c.app_id == _A.c.id)
        .outerjoin(_G, _G.c.active_config_id == _C.c.id)
    )
    .where(
        _A.c.name == sa.bindparam("app"),
        _E.c.name == sa.bindparam("env"),
        _C.c.version == sa.bindparam("version"),
        _C.c.type == sa.bindparam("type"),
        _C.c.name == sa.bindparam("name"),
        _C.c.status == int(ConfigStatus.LIVE),
    )
)

#: The read generation's value (one primary-key read).
GENERATION_READ = sa.select(_GEN.c.value).where(_GEN.c.id == sa.literal_column("1"))

#: :data:`ONE` plus, as its last column, the read generation of the same snapshot.
ONE_TAGGED = ONE.add_columns(GENERATION_READ.scalar_subquery().label("generation"))

#: Run by the write hook as the last statement of a transaction that wrote a :data:`READ_TABLES`
#: table (plain SQL: it runs on the connection's DBAPI cursor, outside SQLAlchemy's events).
GENERATION_BUMP = f"UPDATE {ReadGeneration.__tablename__} SET value = value + 1 WHERE id = 1"


def _from_tables(statement: sa.Select[tuple[object, ...]]) -> frozenset[str]:
    names: set[str] = set()
    for selectable in statement.get_final_froms():
        tables = sa.sql.util.find_tables(selectable)
        names.update(table.name for table in tables if isinstance(table, sa.Table))
    return frozenset(names)


#: Every table :data:`ONE` reads: a committed write to any of them advances the read generation.
READ_TABLES = _from_tables(ONE)

APP = (
    sa.select(_A.c.id, _R.c.token_hash)
    .select_from(_A.outerjoin(_R, _R.c.app_id == _A.c.id))
    .where(_A.c.name == sa.bindparam("app"))
)
ENV = sa.select(_E.c.id).where(_E.c.name == sa.bindparam("env"))
LIST = (
    sa.select(
        _C.c.id,
        _C.c.type,
        _C.c.status,
        _C.c.name,
        _C.c.value,
        _C.c.app_id,
        _C.c.version,
        _C.c.env_id,
        _C.c.created_at,
        _C.c.updated_at,
    )
    .select_from(_C.join(_A, _A.c.id == _C.c.app_id).join(_E, _E.c.id == _C.c.env_id))
    .where(
        _A.c.name == sa.bindparam("app"),
        _E.c.name == sa.bindparam("env"),
        _C.c.version == sa.bindparam("version"),
        _C.c.status == int(ConfigStatus.LIVE),
    )
    .order_by(_C.c.id)
)
