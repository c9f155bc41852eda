"""Two admins racing on one config: exactly one wins, the other gets 412/409, nothing is
half-written (SQLite and MySQL)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from disconf_core import ConfigType, Coordinates
from disconf_web import services
from disconf_web.extensions import Database
from disconf_web.models import ConfigRevision, Notification
from disconf_web.services import configs

COORDS = Coordinates(app="demo", version="1", env="dev")


def test_racing_publishes_with_the_same_if_match(migrated_url: str) -> None:
    _race_same_if_match(migrated_url)


def test_the_race_without_update_returning(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.35 (no ``UPDATE ... RETURNING``): the write lock and the locked read are
    two statements, with the same outcome."""
    monkeypatch.setattr(configs, "SQLITE_RETURNING", False)
    _race_same_if_match(migrated_url)


def _race_same_if_match(migrated_url: str) -> None:
    database = Database(migrated_url)
    try:
        with database.new_session() as session:
            services.create_app_record(session, name="demo", actor="t")
            services.create_env(session, name="dev", actor="t")
            first = services.publish_config(
                session, coords=COORDS, kind=ConfigType.ITEM, name="k", content="0", actor="t"
            )
            etag = f'"{first.config.md5}"'
        outcomes: list[object] = []
        barrier = threading.Barrier(4)

        def publish(value: str) -> None:
            with database.new_session() as session:
                barrier.wait(10)
                try:
                    services.publish_config(
                        session, coords=COORDS, kind=ConfigType.ITEM, name="k", content=value,
                        actor="t", if_match=etag,
                    )  # fmt: skip
                    outcomes.append("ok")
                except (services.PreconditionFailed, services.Conflict) as exc:
                    outcomes.append(type(exc))

        threads = [threading.Thread(target=publish, args=(str(n),)) for n in range(1, 5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert outcomes.count("ok") == 1, outcomes
        assert len(outcomes) == 4
        with database.new_session() as session:
            revisions = session.scalar(sa.select(sa.func.count()).select_from(ConfigRevision))
            notifications = session.scalar(sa.select(sa.func.count()).select_from(Notification))
            config = services.get_config(session, COORDS, ConfigType.ITEM, "k")
        assert (revisions, notifications, config.revision) == (2, 2, 2)
    finally:
        database.dispose()
