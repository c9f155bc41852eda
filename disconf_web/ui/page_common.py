"""What the console's pages share beyond the blueprint: the request's database session and
user, permission and form checks, the app's publisher and the "published" message.

Error Handling
--------------
Publishing goes through :func:`publisher` (:class:`~disconf_web.publisher.Publisher`): it waits
on ZooKeeper at most the bounded inline delivery (``NOTIFY_INLINE_TIMEOUT``); when ZooKeeper is
down it answers "pending" and the notifier's sweeper retries, so a publish never fails because
of ZooKeeper.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy.orm as so
from flask import abort, current_app, request, url_for

from disconf_core import ConfigType, Coordinates

from .. import services
from ..auth import current_user, require_app
from ..extensions import get_db
from ..models import User
from ..publisher import Publisher, get_publisher
from .blueprint import KINDS, SEGMENTS

__all__ = [
    "can_write",
    "config_list_url",
    "config_page_url",
    "config_type_of",
    "current_console_user",
    "db_session",
    "form_comment",
    "published_message",
    "publisher",
    "safe_next",
]


def db_session() -> so.Session:
    return get_db(current_app).session()


def current_console_user() -> User:
    user = current_user()
    if user is None:  # login_required ran first
        raise services.Unauthorized("log in first")
    return user


def config_type_of(kind: str) -> ConfigType:
    try:
        return KINDS[kind]
    except KeyError:
        abort(404)


def can_write(user: User, app_name: str) -> bool:
    try:
        require_app(user, app_name, write=True)
    except services.ServiceError:
        return False
    return True


def publisher() -> Publisher:
    """The app's publisher: every console change goes through it (one path with the API)."""
    return get_publisher(current_app)


def published_message(what: str, revision: int, notification: str) -> str:
    if notification == "delivered":
        return f"Published {what} as revision {revision}; clients were notified."
    if notification == "pending":
        return (
            f"Published {what} as revision {revision}. ZooKeeper did not take the notification "
            "yet: it is retried in the background until clients are notified."
        )
    if notification == "failed":
        return (
            f"Published {what} as revision {revision}, but ZooKeeper refused the notification "
            "for good: clients were not told. An admin sees it under Notifications."
        )
    return f"Published {what} as revision {revision}."


def form_comment() -> str:
    comment = request.form.get("comment", "").strip()
    if len(comment) > 1000:
        raise services.BadRequest(f"the comment is {len(comment)} characters: at most 1000")
    return comment


def safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def config_list_url(coords: Coordinates) -> str:
    return url_for("console.configs", app=coords.app, env=coords.env, version=coords.version)


def config_page_url(endpoint: str, coords: Coordinates, kind: ConfigType, name: str) -> str:
    """The URL of one config's console page ``endpoint`` (e.g. ``"console.history"``)."""
    return url_for(
        endpoint, app=coords.app, env=coords.env, version=coords.version,
        kind=SEGMENTS[kind], name=name,
    )  # fmt: skip
