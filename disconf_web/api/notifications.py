"""Admin API: notifications that did not reach ZooKeeper — list them, retry them.

::

    GET  /api/v1/notifications                 failed and stuck rows, newest first
    POST /api/v1/notifications/retry           every failed row back to pending
    POST /api/v1/notifications/<id>/retry      one failed row back to pending

A row is **failed** when ZooKeeper refused it for good (a node name it cannot store, data too
large; see :mod:`disconf_web.notifier`), and **stuck** when it is still pending after
``NOTIFY_STUCK_SECONDS`` or more than ``NOTIFY_STUCK_ATTEMPTS`` tries. Each row carries ``id``,
``state``, ``app``, ``env``, ``version``, ``type``, ``name``, ``path``, ``created_at``,
``failed_at``, ``attempts`` and ``error``; the body also has the ``counts`` of both. A retry
makes the rows pending again and wakes this process's deliverer; a row that fails again is
marked failed again with the new error.

Admins only (403 otherwise); errors are ``{"error": ...}`` like the rest of ``/api/v1``.

Error Handling
--------------
Database down: 503 (nothing changed). ZooKeeper down: listing and retrying still work (they only
touch the database); the retried rows wait for the sweeper like any pending row.
"""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from .. import outbox, services
from ..auth import require_admin, require_user
from ..extensions import get_db
from ..publisher import get_publisher
from .admin import bp

__all__ = ["list_notifications", "retry_all", "retry_one"]

MAX_LISTED = 500


def _admin(what: str) -> None:
    require_admin(require_user(), what)


@bp.get("/notifications")
def list_notifications() -> Response:
    _admin("list undelivered notifications")
    limit = request.args.get("limit", default=100, type=int)
    if limit is None or not 1 <= limit <= MAX_LISTED:
        raise services.BadRequest(f"limit must be a number from 1 to {MAX_LISTED}")
    publisher = get_publisher(current_app)
    db = get_db(current_app)
    figures = outbox.counts(
        db, stuck_seconds=publisher.stuck_seconds, stuck_attempts=publisher.stuck_attempts
    )
    rows = outbox.problems(
        db,
        stuck_seconds=publisher.stuck_seconds,
        stuck_attempts=publisher.stuck_attempts,
        limit=limit,
    )
    counts = {"failed": figures.failed, "stuck": figures.stuck, "pending": figures.pending}
    return jsonify({"counts": counts, "notifications": rows})


def _retried(count: int) -> Response:
    publisher = get_publisher(current_app)
    if count and publisher.notifier.enabled:
        publisher.start()
        publisher.notifier.wake()
    return jsonify({"retried": count})


@bp.post("/notifications/retry")
def retry_all() -> Response:
    _admin("retry notifications")
    return _retried(outbox.retry(get_db(current_app)))


@bp.post("/notifications/<int(max=9223372036854775807):row_id>/retry")
def retry_one(row_id: int) -> Response:
    _admin("retry notifications")
    count = outbox.retry(get_db(current_app), [row_id])
    if count == 0:
        raise services.NotFound(f"notification {row_id} is not a failed notification")
    return _retried(count)
