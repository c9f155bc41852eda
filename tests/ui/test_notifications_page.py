"""The console's Notifications page (admins): failed and stuck notifications, and retrying."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from disconf_web import get_db
from disconf_web.models import Notification, utcnow


def _failed_row(app: Flask, error: str) -> int:
    with get_db(app).new_session() as session:
        row = Notification(
            path="/disconf/demo_1_0_0_dev/item/bad",
            data="x",
            created_at=utcnow(),
            failed_at=utcnow(),
            attempts=1,
            last_error=error,
        )
        session.add(row)
        session.commit()
        return row.id


def test_admin_sees_and_retries_failed_notifications(app: Flask, as_role: Any) -> None:
    row_id = _failed_row(app, "refused by ZooKeeper: BadArgumentsError")
    admin = as_role("admin")
    page = admin.get("/notifications")
    assert page.status_code == 200
    assert "1 failed" in page.text and "BadArgumentsError" in page.text
    assert "/disconf/demo_1_0_0_dev/item/bad" in page.text
    assert 'href="/notifications"' in admin.get("/apps").text  # the link in the header

    assert as_role("editor").get("/notifications").status_code == 403
    assert as_role("editor").post(f"/notifications/{row_id}/retry").status_code == 403

    retried = admin.post(f"/notifications/{row_id}/retry", follow_redirects=True)
    assert retried.status_code == 200 and "1 notification(s) queued" in retried.text
    with get_db(app).new_session() as session:
        failed_at = session.scalar(
            sa.select(Notification.failed_at).where(Notification.id == row_id)
        )
    assert failed_at is None
    assert "0 failed" in admin.get("/notifications").text
