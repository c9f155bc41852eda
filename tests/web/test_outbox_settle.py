"""The settle of a publish's own delivery (:func:`disconf_web.outbox.settle`): it marks the
node's pending rows up to the row ZooKeeper now holds and tells how many of the publish's own
rows are still not delivered, whether the database names the rows it marked (SQLite 3.35+) or
the count is read (MySQL, MariaDB)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from disconf_core import ConfigType, Coordinates
from disconf_web import outbox, services
from disconf_web.extensions import Database
from disconf_web.models import Notification, utcnow
from disconf_web.outbox import NodeKey


@pytest.fixture
def db(migrated_url: str) -> Iterator[Database]:
    database = Database(migrated_url)
    try:
        yield database
    finally:
        database.dispose()


def _publish(db: Database, value: str) -> outbox.OutboxRow:
    """Publish item ``k`` (no ZooKeeper here): its pending notification row."""
    with db.new_session() as session:
        result = services.publish_config(
            session,
            content=value,
            coords=Coordinates(app="a", version="1_0_0", env="e"),
            kind=ConfigType.ITEM,
            name="k",
            actor="tester",
        )
    return result.notifications[0]


def _setup(db: Database) -> None:
    with db.new_session() as session:
        services.create_app_record(session, name="a", actor="tester")
        services.create_env(session, name="e", actor="tester")


def _state(db: Database, row_id: int) -> tuple[bool, bool]:
    """(delivered, failed) of a row."""
    with db.engine.connect() as connection:
        row = connection.execute(
            sa.select(Notification.delivered_at, Notification.failed_at).where(
                Notification.id == row_id
            )
        ).one()
    return row.delivered_at is not None, row.failed_at is not None


def test_settle_marks_the_node_up_to_the_written_row_and_counts_none_left(db: Database) -> None:
    _setup(db)
    older, own = _publish(db, "v1"), _publish(db, "v2")
    assert older.key == own.key

    assert outbox.settle(db, own.key, own.id, [own.id]) == (2, 0)
    assert _state(db, older.id) == (True, False)
    assert _state(db, own.id) == (True, False)


def test_settle_counts_own_rows_it_could_not_mark(db: Database) -> None:
    _setup(db)
    own = _publish(db, "v1")
    newer = _publish(db, "v2")
    # A row failed meanwhile is not delivered by the settle; a row above ``up_to`` neither.
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(Notification).where(Notification.id == own.id).values(failed_at=utcnow())
        )

    assert outbox.settle(db, own.key, own.id, [own.id]) == (0, 1)
    assert outbox.settle(db, own.key, own.id, [own.id, newer.id]) == (0, 2)
    assert _state(db, newer.id) == (False, False)


def test_settle_counts_nothing_for_own_rows_delivered_before(db: Database) -> None:
    _setup(db)
    own = _publish(db, "v1")
    assert outbox.mark_delivered(db, own.key, own.id) == 1

    assert outbox.settle(db, own.key, own.id, [own.id]) == (0, 0)


def test_settle_of_a_node_without_config(db: Database) -> None:
    """Rows whose config is gone (``config_id`` NULL) are settled by their path alone."""
    path = "/disconf/orphan_1_0_0_e/item/k"
    with db.engine.begin() as connection:
        ids = [
            connection.execute(
                sa.insert(Notification).values(
                    config_id=None, path=path, data=f"v{n}", created_at=utcnow(), attempts=0
                )
            ).inserted_primary_key[0]
            for n in range(2)
        ]
    key = NodeKey(path, None)

    assert outbox.latest(db, key) == outbox.OutboxRow(ids[1], key, "v1")
    assert outbox.settle(db, key, ids[1], [ids[1]]) == (2, 0)
    assert outbox.all_delivered(db, ids)
