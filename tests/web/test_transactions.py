"""services.transactions: one transaction per service write, one conflict translator, one audit.

On SQLite and MariaDB: a duplicate becomes ``Conflict`` with nothing of the block stored; any
other error rolls the block back too; a caller's earlier reads (autobegin) do not stop a service
from writing; a service called inside a transaction the caller began is refused loudly instead
of committing the caller's transaction half-way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

from disconf_web import services
from disconf_web.extensions import Database
from disconf_web.models import AuditEvent, Env
from disconf_web.services.transactions import audit, transaction


@pytest.fixture
def session(migrated_url: str) -> Iterator[so.Session]:
    database = Database(migrated_url)
    try:
        with database.new_session() as opened:
            yield opened
    finally:
        database.dispose()


def _count(session: so.Session, model: type[object]) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_a_duplicate_is_a_conflict_and_stores_nothing_of_the_block(session: so.Session) -> None:
    services.create_env(session, name="dev", actor="t")
    with pytest.raises(services.Conflict, match="env 'dev' already exists"):
        with transaction(session, conflict="env 'dev' already exists"):
            audit(session, actor="t", action="env.create", target="dev")
            session.add(Env(name="dev", created_by="t"))
    assert _count(session, Env) == 1
    assert _count(session, AuditEvent) == 1  # only the first creation's event


def test_any_error_rolls_the_block_back(session: so.Session) -> None:
    with pytest.raises(ZeroDivisionError):
        with transaction(session, conflict="unused"):
            audit(session, actor="t", action="x", target="y")
            session.flush()
            1 / 0  # noqa: B018 - the error under test
    assert _count(session, AuditEvent) == 0


def test_a_service_writes_after_the_callers_reads(session: so.Session) -> None:
    assert _count(session, Env) == 0  # the session autobegins a transaction here
    assert session.in_transaction()
    services.create_env(session, name="prod", actor="t")
    assert not session.in_transaction()
    assert [env.name for env in services.list_envs(session)] == ["prod"]


def test_a_service_inside_the_callers_transaction_is_refused(session: so.Session) -> None:
    with pytest.raises(RuntimeError, match="cannot run inside another one"):
        with session.begin():
            session.add(Env(name="a", created_by="t"))
            services.create_env(session, name="b", actor="t")
    assert _count(session, Env) == 0
