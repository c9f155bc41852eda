"""The notification outbox in the database: which rows are pending, delivered, failed or stuck.

A ``Notification`` row is written in the same transaction as its config change. Its state:

* **pending**: ``delivered_at`` and ``failed_at`` both null; the deliverer
  (:mod:`disconf_web.notifier`) tries it, and records ``attempts`` and ``last_error`` when a
  try fails for a transient reason (ZooKeeper down, a timeout);
* **delivered**: ``delivered_at`` set once ZooKeeper holds the row's revision or a newer one;
* **failed**: ``failed_at`` set when ZooKeeper refused the row for good (a node name it cannot
  store, data too large); delivery skips it until an admin retries it (:func:`retry`);
* **stuck** (a view, not a state): pending for longer than ``NOTIFY_STUCK_SECONDS`` or with more
  than ``NOTIFY_STUCK_ATTEMPTS`` failed attempts — shown in ``/metrics`` and the admin API.

Rows are grouped by :class:`NodeKey` (the config and its node path): all rows of one node carry
revisions of the same config, so delivering a node means writing its latest row's data
(:func:`latest`), which covers every older row of that node.

Error Handling
--------------
Every function opens its own short session (or Core connection) and commits before returning;
a database that is down raises SQLAlchemy's error to the caller (the deliverer logs it and
retries with backoff; the admin API answers 503). No function touches ZooKeeper.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa

from disconf_core import ConfigType

from .extensions import Database
from .models import App, Config, Env, Notification, utcnow

__all__ = [
    "NodeKey",
    "OutboxCounts",
    "OutboxRow",
    "all_delivered",
    "counts",
    "group_by_node",
    "latest",
    "load_pending",
    "load_rows",
    "mark_attempt",
    "mark_delivered",
    "mark_failed",
    "problems",
    "retry",
    "settle",
]

_ERROR_MAX = 1000


@dataclass(frozen=True)
class NodeKey:
    """One ZooKeeper node as the outbox knows it: its path and the config that owns it."""

    path: str
    config_id: int | None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    key: NodeKey
    data: str


@dataclass(frozen=True)
class OutboxCounts:
    total: int
    delivered: int
    pending: int
    failed: int
    retrying: int
    stuck: int
    attempts: int
    oldest_pending: datetime | None


_PENDING = sa.and_(Notification.delivered_at.is_(None), Notification.failed_at.is_(None))


def _rows(result: Iterable[Any]) -> list[OutboxRow]:
    return [OutboxRow(row.id, NodeKey(row.path, row.config_id), row.data) for row in result]


def _select() -> sa.Select[int, int | None, str, str]:
    return sa.select(Notification.id, Notification.config_id, Notification.path, Notification.data)


def load_pending(db: Database, *, after_id: int, grace: float, limit: int) -> list[OutboxRow]:
    """Pending rows with ``id > after_id`` in id order (rows younger than ``grace`` s left out)."""
    query = _select().where(_PENDING, Notification.id > after_id).order_by(Notification.id)
    if grace > 0:
        query = query.where(Notification.created_at <= utcnow() - timedelta(seconds=grace))
    with db.new_session() as session:
        return _rows(session.execute(query.limit(limit)))


def load_rows(db: Database, ids: Sequence[int]) -> list[OutboxRow]:
    """The pending rows among ``ids``, in id order."""
    query = _select().where(_PENDING, Notification.id.in_(list(ids))).order_by(Notification.id)
    with db.new_session() as session:
        return _rows(session.execute(query))


def group_by_node(rows: Iterable[OutboxRow]) -> dict[NodeKey, list[int]]:
    """Row ids per node, nodes in the order of their first row."""
    groups: dict[NodeKey, list[int]] = {}
    for row in rows:
        groups.setdefault(row.key, []).append(row.id)
    return groups


def _of_node(key: NodeKey) -> sa.ColumnElement[bool]:
    if key.config_id is None:
        return sa.and_(Notification.config_id.is_(None), Notification.path == key.path)
    return sa.and_(Notification.config_id == key.config_id, Notification.path == key.path)


_N = cast(sa.Table, Notification.__table__)
_COLUMNS = (_N.c.id, _N.c.config_id, _N.c.path, _N.c.data)
_PENDING_ROW = sa.and_(_N.c.delivered_at.is_(None), _N.c.failed_at.is_(None))
# The node's rows: a node without a config (``config_id`` NULL) and one with are two statements.
_OF_CONFIG = sa.and_(
    _N.c.config_id == sa.bindparam("b_config_id"), _N.c.path == sa.bindparam("b_path")
)
_OF_ORPHAN = sa.and_(_N.c.config_id.is_(None), _N.c.path == sa.bindparam("b_path"))


def _latest_of(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(*_COLUMNS).where(where).order_by(_N.c.id.desc()).limit(1)


def _delivered_of(where: sa.ColumnElement[bool]) -> sa.Update:
    return (
        sa.update(_N)
        .where(where, _PENDING_ROW, _N.c.id <= sa.bindparam("b_up_to"))
        .values(delivered_at=sa.bindparam("b_now"), attempts=_N.c.attempts + 1)
    )


# The statements of every publish's delivery, built once: building them costs more than
# running them on SQLite, and a statement built once also keeps its compiled-cache key.
_LATEST = {True: _latest_of(_OF_CONFIG), False: _latest_of(_OF_ORPHAN)}
_DELIVERED = {True: _delivered_of(_OF_CONFIG), False: _delivered_of(_OF_ORPHAN)}
_DELIVERED_RETURNING = {
    has_config: update.returning(_N.c.id) for has_config, update in _DELIVERED.items()
}
_UNDELIVERED = (
    sa.select(sa.func.count())
    .select_from(_N)
    .where(_N.c.id.in_(sa.bindparam("b_ids", expanding=True)), _N.c.delivered_at.is_(None))
)


def _node_params(key: NodeKey) -> dict[str, Any]:
    if key.config_id is None:
        return {"b_path": key.path}
    return {"b_path": key.path, "b_config_id": key.config_id}


def latest(db: Database, key: NodeKey) -> OutboxRow | None:
    """The newest row of the node, whatever its state (a fresh read in a new transaction).

    A Core connection, not a session: this read sits between a publish's commit and its
    ZooKeeper ``set`` when the node's stat was answered late (see :mod:`.notifier`)."""
    with db.engine.connect() as connection:
        row = connection.execute(_LATEST[key.config_id is not None], _node_params(key)).first()
    return None if row is None else OutboxRow(row.id, NodeKey(row.path, row.config_id), row.data)


def _update(db: Database, where: sa.ColumnElement[bool], **values: Any) -> int:
    with db.new_session() as session:
        result = session.execute(sa.update(Notification).where(where).values(**values))
        session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


def _mark_delivered(connection: sa.Connection, key: NodeKey, up_to: int) -> int:
    params = {**_node_params(key), "b_up_to": up_to, "b_now": utcnow()}
    result = connection.execute(_DELIVERED[key.config_id is not None], params)
    return int(result.rowcount or 0)


def mark_delivered(db: Database, key: NodeKey, up_to: int) -> int:
    """The node holds row ``up_to``'s data: every pending row of it up to there is delivered."""
    with db.engine.begin() as connection:
        return _mark_delivered(connection, key, up_to)


def settle(db: Database, key: NodeKey, up_to: int, ids: Sequence[int]) -> tuple[int, int]:
    """:func:`mark_delivered`, then how many rows of ``ids`` are still not delivered (one
    transaction, for a publish's own delivery): ``(marked, undelivered)``."""
    with db.engine.begin() as connection:
        if connection.dialect.update_returning:
            # SQLite 3.35+: the update names the rows it marked; when they cover ``ids`` (a
            # publish's own rows, in practice always) nothing is left to count.
            params = {**_node_params(key), "b_up_to": up_to, "b_now": utcnow()}
            marked_ids = set(
                connection.scalars(_DELIVERED_RETURNING[key.config_id is not None], params)
            )
            if marked_ids.issuperset(ids):
                return len(marked_ids), 0
            marked = len(marked_ids)
        else:
            marked = _mark_delivered(connection, key, up_to)
        left = connection.scalar(_UNDELIVERED, {"b_ids": list(ids)})
    return marked, int(left or 0)


def mark_failed(db: Database, key: NodeKey, up_to: int, error: str) -> int:
    """ZooKeeper refused the node's data for good: its pending rows up to ``up_to`` fail."""
    return _update(
        db,
        sa.and_(_of_node(key), _PENDING, Notification.id <= up_to),
        failed_at=utcnow(),
        attempts=Notification.attempts + 1,
        last_error=error[:_ERROR_MAX],
    )


def mark_attempt(db: Database, ids: Sequence[int], error: str) -> None:
    """A transient failure: the rows stay pending with one more attempt and the error."""
    _update(
        db,
        sa.and_(_PENDING, Notification.id.in_(list(ids))),
        attempts=Notification.attempts + 1,
        last_error=error[:_ERROR_MAX],
    )


def all_delivered(db: Database, ids: Sequence[int]) -> bool:
    with db.engine.connect() as connection:
        left = connection.scalar(_UNDELIVERED, {"b_ids": list(ids)})
    return left == 0


def _stuck(stuck_seconds: float, stuck_attempts: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        _PENDING,
        sa.or_(
            Notification.created_at <= utcnow() - timedelta(seconds=stuck_seconds),
            Notification.attempts > stuck_attempts,
        ),
    )


def _count_where(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def counts(db: Database, *, stuck_seconds: float, stuck_attempts: int) -> OutboxCounts:
    """Every figure ``/metrics`` shows about the outbox, in one round trip per figure group."""
    failed_rows = Notification.failed_at.is_not(None)
    with db.new_session() as session:
        total, delivered, attempts = session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(Notification.delivered_at),
                sa.func.coalesce(sa.func.sum(Notification.attempts), 0),
            )
        ).one()
        failed, retrying, stuck = session.execute(
            sa.select(
                _count_where(failed_rows),
                _count_where(sa.and_(_PENDING, Notification.attempts > 0)),
                _count_where(_stuck(stuck_seconds, stuck_attempts)),
            )
        ).one()
        oldest = session.scalar(sa.select(sa.func.min(Notification.created_at)).where(_PENDING))
    failed = int(failed or 0)
    return OutboxCounts(
        total=int(total or 0),
        delivered=int(delivered or 0),
        pending=int(total or 0) - int(delivered or 0) - failed,
        failed=failed,
        retrying=int(retrying or 0),
        stuck=int(stuck or 0),
        attempts=int(attempts or 0),
        oldest_pending=oldest,
    )


def problems(
    db: Database, *, stuck_seconds: float, stuck_attempts: int, limit: int = 200
) -> list[dict[str, Any]]:
    """Failed and stuck rows (newest first) with the config's coordinates, for the admin API."""
    stuck = _stuck(stuck_seconds, stuck_attempts)
    query = (
        sa.select(
            Notification.id,
            Notification.path,
            Notification.created_at,
            Notification.failed_at,
            Notification.attempts,
            Notification.last_error,
            Config.version,
            Config.type,
            Config.name,
            App.name.label("app"),
            Env.name.label("env"),
        )
        .select_from(Notification)
        .outerjoin(Config, Config.id == Notification.config_id)
        .outerjoin(App, App.id == Config.app_id)
        .outerjoin(Env, Env.id == Config.env_id)
        .where(sa.or_(Notification.failed_at.is_not(None), stuck))
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    with db.new_session() as session:
        rows = session.execute(query).all()
    return [
        {
            "id": row.id,
            "state": "failed" if row.failed_at is not None else "stuck",
            "app": row.app,
            "env": row.env,
            "version": row.version,
            "type": None if row.type is None else ConfigType(row.type).segment,
            "name": row.name,
            "path": row.path,
            "created_at": _iso(row.created_at),
            "failed_at": _iso(row.failed_at),
            "attempts": row.attempts,
            "error": row.last_error,
        }
        for row in rows
    ]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


def retry(db: Database, ids: Sequence[int] | None = None) -> int:
    """Failed rows back to pending (``ids``, or every failed row when None); how many.
    ``attempts`` keeps counting, so a row retried in vain shows how often it was tried."""
    where: sa.ColumnElement[bool] = Notification.failed_at.is_not(None)
    if ids is not None:
        where = sa.and_(where, Notification.id.in_(list(ids)))
    return _update(db, where, failed_at=None)
