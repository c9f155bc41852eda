"""The two things every service write shares: one database transaction and one audit event.

:func:`transaction` is ``with session.begin():`` plus the one place where the database's
unique constraints become :class:`~disconf_web.services.errors.Conflict`: a service says what a
conflict means for it (``"app 'x' already exists"``), not how to catch, roll back and re-raise.
:func:`audit` adds one :class:`~disconf_web.models.AuditEvent` inside that transaction, so the
event is stored exactly when the change is.

Error Handling
--------------
Any exception inside the block rolls the whole transaction back (nothing is half-written) and is
re-raised; an ``IntegrityError`` is re-raised as ``Conflict`` with the service's message. A
database that is lost mid-transaction raises SQLAlchemy's ``OperationalError`` after the same
rollback; the caller (a view) answers it as unavailable. Nothing here talks to ZooKeeper.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
import sqlalchemy.exc
import sqlalchemy.orm as so

from ..models import AuditEvent, utcnow
from .errors import Conflict

__all__ = ["audit", "transaction"]


@contextmanager
def transaction(session: so.Session, *, conflict: str) -> Iterator[so.SessionTransaction]:
    """Run the block in ``with session.begin():``; a unique-constraint violation -> Conflict.

    A transaction the session began by itself for the caller's earlier reads (SQLAlchemy's
    autobegin: a view that looked the user up first) is ended first, so the write sees the
    latest committed state and commits on its own. Called inside a transaction the caller
    began explicitly, it raises ``RuntimeError`` instead of committing that transaction early.
    ``conflict`` is the message of the :class:`Conflict` raised when the database refuses the
    write as a duplicate.
    """
    current = session.get_transaction()
    if current is not None and current.origin is not so.SessionTransactionOrigin.AUTOBEGIN:
        # Committing here would split the caller's transaction in two: a bug, said loudly.
        raise RuntimeError(
            "a service transaction cannot run inside another one: use the stage_* functions "
            "inside a caller's transaction"
        )
    if current is not None:
        session.commit()
    try:
        with session.begin() as begun:
            yield begun
    except sa.exc.IntegrityError as exc:
        raise Conflict(conflict) from exc


def audit(
    session: so.Session,
    *,
    actor: str,
    action: str,
    target: str,
    app: str | None = None,
    **detail: object,
) -> None:
    """Add (not commit) one audit event; ``detail`` is stored as JSON (empty when none)."""
    session.add(
        AuditEvent(
            at=utcnow(),
            actor=actor[:64],
            action=action,
            app=app,
            target=target[:1024],
            detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else "",
        )
    )
