"""The two things every service write shares: one database transaction and one audit event.

:func:`transaction` is ``with session.begin():`` plus the one place where the database's
unique constraints become :class:`~disconf_web.services.errors.Conflict`: a service says what a
conflict means for it (``"app 'x' already exists"``), not how to catch, roll back and re-raise.
:func:`audit` adds one :class:`~disconf_web.models.AuditEvent` inside that transaction, so the
event is stored exactly when the change is. :func:`run_transaction` is the same transaction
for work that may be run again: the one place where a deadlock the database broke is retried.

Error Handling
--------------
Any exception inside the block rolls the whole transaction back (nothing is half-written) and is
re-raised; an ``IntegrityError`` is re-raised as ``Conflict`` with the service's message. A
database that is lost mid-transaction raises SQLAlchemy's ``OperationalError`` after the same
rollback; the caller (a view) answers it as unavailable. Nothing here talks to ZooKeeper.

Deadlocks: on MySQL/MariaDB (InnoDB, REPEATABLE READ) writers that lock rows which do not exist
yet (the first configs of a new app x env x version, the claim of its node name) hold gap locks
and can deadlock each other; InnoDB then rolls one of them back with error 1213 ("try
restarting transaction"). :func:`run_transaction` runs the work again, up to
:data:`DEADLOCK_ATTEMPTS` times in all, after a random pause of at most
:data:`DEADLOCK_BACKOFF_SECONDS` x the attempt number (so the racers do not meet again in the
same order). A lock wait timeout (1205) is not retried: the database already waited its own
bounded time (``innodb_lock_wait_timeout``) and the view answers 503.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar, cast

import sqlalchemy as sa
import sqlalchemy.exc
import sqlalchemy.orm as so

from ..models import AuditEvent, utcnow
from .errors import Conflict

__all__ = [
    "DEADLOCK_ATTEMPTS",
    "DEADLOCK_BACKOFF_SECONDS",
    "audit",
    "is_deadlock",
    "run_transaction",
    "transaction",
]

T = TypeVar("T")

DEADLOCK_ATTEMPTS = 5
"""How many times in all :func:`run_transaction` runs work the database broke as a deadlock."""

DEADLOCK_BACKOFF_SECONDS = 0.05
"""Upper bound of the random pause before a retry, multiplied by the attempt number (so the
longest total pause is 0.05 x (1 + 2 + 3 + 4) = 0.5 s)."""

_INSERT_AUDIT = sa.insert(cast(sa.Table, AuditEvent.__table__))
_MYSQL_DEADLOCK = 1213  # ER_LOCK_DEADLOCK: the transaction was rolled back, run it again


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


def is_deadlock(exc: sa.exc.DBAPIError) -> bool:
    """Whether the database rolled the transaction back to break a deadlock (MySQL 1213, with
    PyMySQL and mysqlclient alike: both put the server's error number first)."""
    args: tuple[object, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] == _MYSQL_DEADLOCK


def run_transaction(
    session: so.Session,
    work: Callable[[], T],
    *,
    conflict: str,
    before_commit: Callable[[], None] | None = None,
) -> T:
    """``work()`` inside :func:`transaction`; run again if the database broke a deadlock.

    ``work`` must do all its reads and writes inside the call (it is run from the start after
    the rollback). Any other error, and the deadlock of the last attempt, is raised as
    :func:`transaction` raises it. ``before_commit()`` is called after ``work`` and right
    before the commit of each attempt (the publisher notes whether ZooKeeper has answered its
    stat read before the new rows become visible).
    """
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            with transaction(session, conflict=conflict):
                result = work()
                if before_commit is not None:
                    before_commit()
                return result
        except sa.exc.OperationalError as exc:
            if attempt == DEADLOCK_ATTEMPTS or not is_deadlock(exc):
                raise
        time.sleep(random.uniform(0, DEADLOCK_BACKOFF_SECONDS * attempt))
    raise AssertionError("unreachable: the last attempt returns or raises")


def audit(
    session: so.Session,
    *,
    actor: str,
    action: str,
    target: str,
    app: str | None = None,
    **detail: object,
) -> None:
    """Insert (not commit) one audit event in the session's transaction; ``detail`` is stored
    as JSON (empty when none). A Core insert: nothing reads the event back, so the ORM's unit
    of work would add only its cost."""
    session.connection().execute(
        _INSERT_AUDIT,
        {
            "at": utcnow(),
            "actor": actor[:64],
            "action": action,
            "app": app,
            "target": target[:1024],
            "detail": json.dumps(detail, ensure_ascii=False, default=str) if detail else "",
        },
    )
