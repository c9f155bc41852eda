"""Notifications that did not reach ZooKeeper (``/notifications``, admins only).

The console view of :mod:`disconf_web.api.notifications`: failed rows (ZooKeeper refused them
for good) and stuck rows (pending too long or tried too often), with their config and error,
and buttons to retry one or all failed rows. Retrying wakes this process's deliverer.

Error Handling
--------------
Only the database is read and written (database down: the console's 503 page); ZooKeeper being
down changes nothing here (retried rows wait for the sweeper).
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import outbox
from ..extensions import get_db
from ..models import User
from ..publisher import get_publisher
from .blueprint import Page, bp
from .scope import signed_in

__all__ = ["notifications", "retry_notifications"]

LISTED = 200


@bp.get("/notifications")
@signed_in(admin="see undelivered notifications")
def notifications(user: User) -> Page:
    publisher = get_publisher(current_app)
    db = get_db(current_app)
    seconds, attempts = publisher.stuck_seconds, publisher.stuck_attempts
    return render_template(
        "console/notifications.html",
        counts=outbox.counts(db, stuck_seconds=seconds, stuck_attempts=attempts),
        rows=outbox.problems(db, stuck_seconds=seconds, stuck_attempts=attempts, limit=LISTED),
        stuck_seconds=publisher.stuck_seconds,
        stuck_attempts=publisher.stuck_attempts,
    )


@bp.post("/notifications/retry")
@bp.post("/notifications/<int(max=9223372036854775807):row_id>/retry")
@signed_in(admin="retry notifications")
def retry_notifications(user: User, row_id: int | None = None) -> WerkzeugResponse:
    count = outbox.retry(get_db(current_app), None if row_id is None else [row_id])
    publisher = get_publisher(current_app)
    if count and publisher.notifier.enabled:
        publisher.start()
        publisher.notifier.wake()
    flash(f"{count} notification(s) queued for delivery again.", "ok")
    return redirect(url_for("console.notifications"))
